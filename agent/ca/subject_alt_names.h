// Subject alternative names: the four kinds a TLS PKI uses, parsed from the
// CLI's "DNS:host,IP:addr,email:x,URI:u" and read from CSRs.
#ifndef KEYHOLD_AGENT_CA_SUBJECT_ALT_NAMES_H_
#define KEYHOLD_AGENT_CA_SUBJECT_ALT_NAMES_H_

#include <span>
#include <string>
#include <vector>

#include <openssl/x509v3.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace keyhold::agent::ca {

// At most this many names in one certificate or request.
inline constexpr size_t kMaxSubjectAltNames = 100;

struct SubjectAltName {
  enum class Kind { kDns, kIp, kEmail, kUri };
  Kind kind = Kind::kDns;
  // kDns: lower-case, no trailing dot; an optional leading "*." wildcard.
  // kIp: canonical text (inet_ntop) of a v4 or v6 address.
  // kEmail: as given (local@domain, domain lower-cased).
  // kUri: as given (scheme:rest).
  std::string value;

  bool operator==(const SubjectAltName&) const = default;
};

// "DNS", "IP", "email", "URI".
absl::string_view SubjectAltNameKindName(SubjectAltName::Kind kind);

// One name, "KIND:value" with KIND one of DNS, IP, email, URI (any case).
// Checks each value: DNS names are LDH labels of 1..63 bytes, at most 253
// bytes in all, "*." only as the whole leftmost label; IP parses as IPv4 or
// IPv6; email is local@domain with a DNS domain and an unquoted local part
// (letters, digits, '.', !#$%&'*+-/=?^_`{|}~); URI has a scheme and is
// printable ASCII without spaces or ',' (so lists stay unambiguous;
// percent-encode it). Values are normalised as described above.
// INVALID_ARGUMENT naming the name.
absl::StatusOr<SubjectAltName> ParseSubjectAltName(absl::string_view text);

// A comma-separated list of ParseSubjectAltName() items; empty text is an
// empty list. Duplicates are dropped (order kept); more than
// kMaxSubjectAltNames is INVALID_ARGUMENT.
absl::StatusOr<std::vector<SubjectAltName>> ParseSubjectAltNames(
    absl::string_view text);

// "DNS:a,IP:1.2.3.4" (the ParseSubjectAltNames() syntax).
std::string FormatSubjectAltNames(std::span<const SubjectAltName> names);

// A GENERAL_NAMES stack for an X509V3 subjectAltName extension. Caller
// frees with GENERAL_NAMES_free.
absl::StatusOr<GENERAL_NAMES*> ToGeneralNames(
    std::span<const SubjectAltName> names);

// The names in `names`, validated and normalised as ParseSubjectAltName()
// does. Any other GeneralName type (otherName, directoryName, ...), or a
// value that fails the checks, is INVALID_ARGUMENT naming it.
absl::StatusOr<std::vector<SubjectAltName>> FromGeneralNames(
    const GENERAL_NAMES* names);

}  // namespace keyhold::agent::ca

#endif  // KEYHOLD_AGENT_CA_SUBJECT_ALT_NAMES_H_
