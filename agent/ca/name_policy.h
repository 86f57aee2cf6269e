// Subject-name policies, like openssl ca's `policy` sections: per
// attribute, the CSR's value must `match` the CA's, must be `supplied`, or
// is `optional`. Attributes a policy does not list are refused (openssl
// silently drops them; a CA that changes what was asked for surprises
// people). Built in: `strict` (openssl's policy_strict: C, ST, O match; CN
// supplied; OU and emailAddress optional) and `loose` (CN supplied, any
// other attribute allowed). The config adds [policy.NAME] tables.
#ifndef KEYHOLD_AGENT_CA_NAME_POLICY_H_
#define KEYHOLD_AGENT_CA_NAME_POLICY_H_

#include <map>
#include <string>
#include <vector>

#include <openssl/x509.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace keyhold::agent::ca {

struct NamePolicy {
  std::string name;
  // Attribute short names (C, ST, L, O, OU, CN, emailAddress, ...).
  std::vector<std::string> match;
  std::vector<std::string> supplied;
  std::vector<std::string> optional;
  // Attributes in none of the lists are allowed too (loose).
  bool allow_other_attributes = false;
};

std::map<std::string, NamePolicy> BuiltinNamePolicies();

// INVALID_ARGUMENT when an attribute is not one OpenSSL knows or appears
// in two lists.
absl::Status ValidateNamePolicy(const NamePolicy& policy);

// Checks a CSR's subject against the CA's. INVALID_ARGUMENT naming the
// policy and rule: "policy strict: countryName must match the CA's (BR),
// the request has US", "policy strict: commonName is required",
// "policy strict: localityName is not allowed".
absl::Status CheckSubject(const NamePolicy& policy, const X509_NAME* ca_subject,
                          const X509_NAME* subject);

}  // namespace keyhold::agent::ca

#endif  // KEYHOLD_AGENT_CA_NAME_POLICY_H_
