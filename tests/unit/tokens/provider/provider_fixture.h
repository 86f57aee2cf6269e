// What every provider test needs: a library context of its own with the
// default and keyhold providers loaded, software signers, and one-call
// sign (through the key under test) and verify (default provider only).
#ifndef KEYHOLD_TESTS_UNIT_TOKENS_PROVIDER_PROVIDER_FIXTURE_H_
#define KEYHOLD_TESTS_UNIT_TOKENS_PROVIDER_PROVIDER_FIXTURE_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tokens/key_type.h"
#include "tokens/openssl_ptr.h"
#include "tokens/provider/provider.h"
#include "tokens/software_signer.h"

namespace keyhold::testing {

// How to sign or verify. Unset fields keep OpenSSL's defaults. digest is
// ignored for Ed25519.
struct SignSettings {
  std::string digest = "SHA256";
  std::optional<int> pad_mode = std::nullopt;     // RSA_PKCS1_*_PADDING
  std::optional<int> salt_length = std::nullopt;  // RSA_PSS_SALTLEN_*, length
  std::optional<std::string> mgf1_digest = std::nullopt;
};

// One-shot EVP_DigestSign with `key` in `libctx`.
absl::StatusOr<std::vector<uint8_t>> DigestSign(
    OSSL_LIB_CTX* libctx, EVP_PKEY* key, const SignSettings& settings,
    std::span<const uint8_t> message);

// EVP_DigestVerify with `key`. By default in the default library context
// with the default provider, so nothing of keyhold's is involved; with
// `libctx`, in that context with whatever provider the key belongs to.
bool DigestVerify(EVP_PKEY* key, const SignSettings& settings,
                  std::span<const uint8_t> message,
                  std::span<const uint8_t> signature,
                  OSSL_LIB_CTX* libctx = nullptr);

std::span<const uint8_t> AsBytes(std::string_view text);

class ProviderFixture : public ::testing::Test {
 protected:
  void SetUp() override;

  OSSL_LIB_CTX* libctx() const { return libctx_.get(); }

  // A signer of `type` and its keyhold key in libctx(). Generated keys are
  // cached per type for the test binary's lifetime: RSA generation is slow
  // and signers are thread-safe and stateless.
  struct SignerKey {
    std::shared_ptr<SoftwareSigner> signer;
    EvpPkeyPtr key;
  };
  absl::StatusOr<SignerKey> MakeSignerKey(KeyType type);

  static absl::StatusOr<std::shared_ptr<SoftwareSigner>> CachedSigner(
      KeyType type);

 private:
  // Declared first, destroyed last.
  OsslLibCtxPtr libctx_;
  std::optional<KeyholdProvider> provider_;
};

}  // namespace keyhold::testing

#endif  // KEYHOLD_TESTS_UNIT_TOKENS_PROVIDER_PROVIDER_FIXTURE_H_
