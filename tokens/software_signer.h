// A Signer whose private key lives in process memory (OpenSSL's default
// provider). For unit tests and benchmarks only: keyhold never keeps a real
// key this way, tokens do.
#ifndef KEYHOLD_TOKENS_SOFTWARE_SIGNER_H_
#define KEYHOLD_TOKENS_SOFTWARE_SIGNER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "tokens/key_type.h"
#include "tokens/openssl_ptr.h"
#include "tokens/signer.h"

namespace keyhold {

class SoftwareSigner : public Signer {
 public:
  // Generates a fresh key of `type` in the default library context.
  static absl::StatusOr<std::unique_ptr<SoftwareSigner>> Generate(KeyType type);

  // Public-only copy: holds no private parts, so code under test cannot
  // sign with it by accident.
  EVP_PKEY* PublicKey() const override { return public_key_.get(); }

  // Thread-safe: every call builds its own EVP_PKEY_CTX / EVP_MD_CTX.
  absl::StatusOr<std::vector<uint8_t>> Sign(
      const SignatureAlgorithm& algorithm,
      std::span<const uint8_t> input) override;

 private:
  SoftwareSigner(EvpPkeyPtr private_key, EvpPkeyPtr public_key)
      : private_key_(std::move(private_key)),
        public_key_(std::move(public_key)) {}

  absl::StatusOr<std::vector<uint8_t>> SignDigest(
      const SignatureAlgorithm& algorithm, std::span<const uint8_t> digest);
  absl::StatusOr<std::vector<uint8_t>> SignMessage(
      std::span<const uint8_t> message);

  const EvpPkeyPtr private_key_;
  const EvpPkeyPtr public_key_;
};

}  // namespace keyhold

#endif  // KEYHOLD_TOKENS_SOFTWARE_SIGNER_H_
