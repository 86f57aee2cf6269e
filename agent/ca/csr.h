// Certificate signing requests: reading untrusted ones (the CA's intake)
// and making them for token keys (proof of possession).
#ifndef KEYHOLD_AGENT_CA_CSR_H_
#define KEYHOLD_AGENT_CA_CSR_H_

#include <span>
#include <string>
#include <vector>

#include <openssl/types.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/ca/subject_alt_names.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::agent::ca {

// Default cap on a CSR's encoded size (PEM or DER).
inline constexpr size_t kDefaultMaxCsrBytes = 16 * 1024;

// A CSR that passed intake.
struct ParsedCsr {
  X509ReqPtr request;
  const X509_NAME* subject = nullptr;  // owned by `request`
  EvpPkeyPtr public_key;               // the requester's key
  // From the extensionRequest attribute; empty when none was asked for.
  std::vector<SubjectAltName> subject_alt_names;
  // The request asks for basicConstraints CA:TRUE.
  bool requests_ca = false;
  // Human summary of the key: "RSA-2048", "EC-P-256", "ED25519".
  std::string key_description;
};

// Reads one CSR from `bytes`, PEM ("CERTIFICATE REQUEST" or "NEW
// CERTIFICATE REQUEST") or DER, with nothing after it, and checks it, in
// order:
//   1. size <= max_bytes and not empty;
//   2. it decodes, version 1 (value 0);
//   3. its own signature verifies with its public key (proof of
//      possession; this is done before anything else in it is trusted);
//   4. the key is RSA of 2048..16384 bits, EC on P-256, P-384 or P-521, or
//      Ed25519;
//   5. the subject is not empty; requested SANs are DNS, IP, email or URI
//      and valid (FromGeneralNames).
// Each failure is INVALID_ARGUMENT with a message naming the rule, e.g.
// "CSR: signature does not verify", "CSR: RSA key of 1024 bits; at least
// 2048 required", "CSR: unsupported curve secp256k1". Never crashes on any
// input.
absl::StatusOr<ParsedCsr> ParseCsr(absl::string_view bytes,
                                   size_t max_bytes = kDefaultMaxCsrBytes);

// A CSR for `key` (normally a keyhold EVP_PKEY whose signatures the token
// makes) with `subject` and, when `sans` is not empty, an extensionRequest
// holding a subjectAltName extension. Signed with SigningContext().
absl::StatusOr<X509ReqPtr> CreateCsr(OSSL_LIB_CTX* libctx, EVP_PKEY* key,
                                     const X509_NAME* subject,
                                     std::span<const SubjectAltName> sans);

// PEM text of a CSR.
absl::StatusOr<std::string> CsrToPem(const X509_REQ* request);

}  // namespace keyhold::agent::ca

#endif  // KEYHOLD_AGENT_CA_CSR_H_
