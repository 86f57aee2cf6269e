// The narrow seam between "something that holds a private key" and the code
// that needs signatures (the OpenSSL provider, the CA, TLS). Implementations:
// TokenSigner (PKCS#11), SoftwareSigner (tests, benchmarks), and later a
// remote signer over the agent's API.
#ifndef KEYHOLD_TOKENS_SIGNER_H_
#define KEYHOLD_TOKENS_SIGNER_H_

#include <cstdint>
#include <span>
#include <vector>

#include <openssl/evp.h>

#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"

namespace keyhold {

enum class HashAlgorithm { kSha224, kSha256, kSha384, kSha512 };

enum class SignatureScheme {
  kRsaPkcs1,  // RSASSA-PKCS1-v1_5; input is the digest.
  kRsaPss,    // RSASSA-PSS; input is the digest.
  kEcdsa,     // ECDSA; input is the digest; output is DER (ECDSA-Sig-Value).
  kEd25519,   // PureEdDSA; input is the whole message; hash is ignored.
};

struct SignatureAlgorithm {
  SignatureScheme scheme = SignatureScheme::kEcdsa;
  HashAlgorithm hash = HashAlgorithm::kSha256;
  // RSA-PSS only.
  HashAlgorithm mgf1_hash = HashAlgorithm::kSha256;
  int pss_salt_length = 32;

  bool operator==(const SignatureAlgorithm&) const = default;
};

size_t DigestSize(HashAlgorithm hash);
absl::string_view HashName(HashAlgorithm hash);  // "SHA256" (OpenSSL spelling)
// Maps an OpenSSL digest name or alias ("SHA256", "SHA2-256", "sha256").
absl::StatusOr<HashAlgorithm> HashFromName(absl::string_view name);
absl::string_view SchemeName(SignatureScheme scheme);

class Signer {
 public:
  virtual ~Signer() = default;

  // The public half; owned by the signer, valid for its lifetime. A key
  // from OpenSSL's default provider (no private part).
  virtual EVP_PKEY* PublicKey() const = 0;

  // Signs `input` (a digest of algorithm.hash, or the message for Ed25519).
  // Safe to call from many threads at once.
  virtual absl::StatusOr<std::vector<uint8_t>> Sign(
      const SignatureAlgorithm& algorithm, std::span<const uint8_t> input) = 0;
};

// Checks that `input` fits `algorithm` before anything reaches a token:
// digest length matches the hash, the scheme fits the key family.
absl::Status CheckSignInput(const EVP_PKEY* public_key,
                            const SignatureAlgorithm& algorithm,
                            std::span<const uint8_t> input);

}  // namespace keyhold

#endif  // KEYHOLD_TOKENS_SIGNER_H_
