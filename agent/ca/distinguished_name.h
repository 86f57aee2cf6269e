// Distinguished names as people type them for `openssl req -subj`:
// "/C=BR/ST=SP/O=Example/CN=Example Root CA".
#ifndef KEYHOLD_AGENT_CA_DISTINGUISHED_NAME_H_
#define KEYHOLD_AGENT_CA_DISTINGUISHED_NAME_H_

#include <optional>
#include <string>

#include <openssl/x509.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::agent::ca {

// Longest name text accepted, in bytes.
inline constexpr size_t kMaxNameTextBytes = 4096;

// Parses "/TYPE=value/TYPE=value..." (openssl's -subj syntax): each part
// starts with '/', TYPE is a short or long name OpenSSL knows (C, ST, L, O,
// OU, CN, emailAddress, serialNumber, DC, UID, ...) or a dotted OID, '+'
// joins attributes into one multi-valued RDN, and '\' escapes the next
// character ("\/" is a slash in a value). Values are UTF-8; C must be two
// letters. INVALID_ARGUMENT naming the offending part for an empty name, an
// unknown type, an empty value, a control character, bad UTF-8 or text
// longer than kMaxNameTextBytes.
absl::StatusOr<X509NamePtr> ParseDistinguishedName(absl::string_view text);

// The same syntax back, with '/', '+' and '\' in values escaped, so that
// ParseDistinguishedName(FormatDistinguishedName(n)) equals n for every n
// ParseDistinguishedName can return whose formatted text still fits
// kMaxNameTextBytes (a short name may be longer than the OID it was typed
// as). Short names where OpenSSL has one, dotted OIDs otherwise. For names
// from elsewhere (an untrusted CSR), a value that does not decode to UTF-8
// and any control character are written as U+FFFD.
std::string FormatDistinguishedName(const X509_NAME* name);

// The UTF-8 value of the first entry of type `nid`, or nullopt when the name
// has none (or it cannot be decoded).
std::optional<std::string> NameEntry(const X509_NAME* name, int nid);

}  // namespace keyhold::agent::ca

#endif  // KEYHOLD_AGENT_CA_DISTINGUISHED_NAME_H_
