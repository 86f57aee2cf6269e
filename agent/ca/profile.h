// Certificate profiles: what a certificate of a kind looks like (CA or leaf,
// key usage, extended key usage) and what may go in it (SAN patterns,
// validity). Built-in profiles follow the openssl sections every mTLS guide
// uses: `v3_ca` (root), a pathlen:0 intermediate, `usr_cert` with
// clientAuth (client), and a serverAuth profile that requires a SAN.
// The config can add profiles or change these ([profile.NAME]).
#ifndef KEYHOLD_AGENT_CA_PROFILE_H_
#define KEYHOLD_AGENT_CA_PROFILE_H_

#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/ca/subject_alt_names.h"

namespace keyhold::agent::ca {

struct CertificateProfile {
  std::string name;
  // basicConstraints (always critical): CA:TRUE with an optional pathlen,
  // or CA:FALSE.
  bool is_ca = false;
  std::optional<int> path_length;
  // keyUsage (always critical), names as in KeyUsageNames(). With
  // `rsa_key_encipherment`, keyEncipherment is added for RSA subject keys
  // (TLS 1.2 RSA key exchange), as openssl's usr_cert does.
  std::vector<std::string> key_usage;
  bool rsa_key_encipherment = false;
  // extendedKeyUsage (not critical): names in ExtendedKeyUsageNames() or
  // dotted OIDs. Empty: no extension.
  std::vector<std::string> extended_key_usage;
  // At least one SAN must end up in the certificate.
  bool subject_alt_name_required = false;
  // Allowed SANs per kind. nullopt: any name of that kind; an empty list:
  // none. Patterns: DNS "host.example.com" or "*.example.com" (exactly one
  // label in place of '*'); IP "10.0.0.0/8", "2001:db8::/32" or one
  // address; email "user@example.com" or "*@example.com"; URI exact, or a
  // prefix ending in '*'.
  std::optional<std::vector<std::string>> allowed_dns;
  std::optional<std::vector<std::string>> allowed_ip;
  std::optional<std::vector<std::string>> allowed_email;
  std::optional<std::vector<std::string>> allowed_uri;
  absl::Duration default_validity = absl::Hours(24 * 365);
  absl::Duration max_validity = absl::Hours(24 * 825);
};

// "digitalSignature", "nonRepudiation", "keyEncipherment",
// "dataEncipherment", "keyAgreement", "keyCertSign", "cRLSign".
std::span<const absl::string_view> KeyUsageNames();
// "serverAuth", "clientAuth", "codeSigning", "emailProtection",
// "timeStamping", "OCSPSigning".
std::span<const absl::string_view> ExtendedKeyUsageNames();

// root, intermediate, server, client.
std::map<std::string, CertificateProfile> BuiltinProfiles();

// INVALID_ARGUMENT naming the field when the profile is inconsistent: an
// unknown key usage or EKU (not a name above nor a dotted OID), pathlen on
// a leaf, a CA without keyCertSign, a bad SAN pattern, validity not
// positive or default above maximum.
absl::Status ValidateProfile(const CertificateProfile& profile);

// OK when `name` fits the profile's patterns for its kind; otherwise
// INVALID_ARGUMENT "profile P does not allow DNS:x (allowed: ...)".
absl::Status CheckSubjectAltName(const CertificateProfile& profile,
                                 const SubjectAltName& name);

}  // namespace keyhold::agent::ca

#endif  // KEYHOLD_AGENT_CA_PROFILE_H_
