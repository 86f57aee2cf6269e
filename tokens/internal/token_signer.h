#ifndef KEYHOLD_TOKENS_INTERNAL_TOKEN_SIGNER_H_
#define KEYHOLD_TOKENS_INTERNAL_TOKEN_SIGNER_H_

#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "tokens/internal/token_state.h"
#include "tokens/openssl_ptr.h"
#include "tokens/signer.h"

namespace keyhold::pkcs11 {

// Signs with a private key on the token. Each Sign leases its own session,
// so concurrent calls never share one. The private key's handle is cached
// and found again by CKA_ID when the token says it went stale.
class TokenSigner : public Signer {
 public:
  TokenSigner(std::shared_ptr<TokenState> state, std::vector<uint8_t> id,
              EvpPkeyPtr public_key);

  EVP_PKEY* PublicKey() const override { return public_key_.get(); }
  absl::StatusOr<std::vector<uint8_t>> Sign(
      const SignatureAlgorithm& algorithm,
      std::span<const uint8_t> input) override;

 private:
  absl::StatusOr<CK_OBJECT_HANDLE> KeyHandle(CK_SESSION_HANDLE session);
  absl::Status CheckMechanism(SignatureScheme scheme) const;

  const std::shared_ptr<TokenState> state_;
  const std::vector<uint8_t> id_;
  const EvpPkeyPtr public_key_;
  void ForgetHandle();

  absl::Mutex mu_;
  CK_OBJECT_HANDLE handle_ ABSL_GUARDED_BY(mu_) = CK_INVALID_HANDLE;
  uint64_t handle_epoch_ ABSL_GUARDED_BY(mu_) = 0;
};

// The DER DigestInfo prefix (RFC 8017 section 9.2) for PKCS#1 v1.5 input.
std::span<const uint8_t> DigestInfoPrefix(HashAlgorithm hash);

}  // namespace keyhold::pkcs11

#endif  // KEYHOLD_TOKENS_INTERNAL_TOKEN_SIGNER_H_
