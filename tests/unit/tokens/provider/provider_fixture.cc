#include "tests/unit/tokens/provider/provider_fixture.h"

#include <map>

#include <openssl/err.h>
#include <openssl/rsa.h>

#include "absl/synchronization/mutex.h"
#include "tests/status_matchers.h"
#include "tokens/openssl_error.h"

namespace keyhold::testing {
namespace {

bool IsEd25519(EVP_PKEY* key) { return EVP_PKEY_is_a(key, "ED25519") == 1; }

bool Configure(EVP_PKEY_CTX* pctx, const SignSettings& settings) {
  if (settings.pad_mode.has_value() &&
      EVP_PKEY_CTX_set_rsa_padding(pctx, *settings.pad_mode) != 1) {
    return false;
  }
  if (settings.salt_length.has_value() &&
      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, *settings.salt_length) != 1) {
    return false;
  }
  if (settings.mgf1_digest.has_value() &&
      EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, settings.mgf1_digest->c_str(),
                                        nullptr) != 1) {
    return false;
  }
  return true;
}

}  // namespace

std::span<const uint8_t> AsBytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

absl::StatusOr<std::vector<uint8_t>> DigestSign(
    OSSL_LIB_CTX* libctx, EVP_PKEY* key, const SignSettings& settings,
    std::span<const uint8_t> message) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (EVP_DigestSignInit_ex(ctx.get(), &pctx,
                            IsEd25519(key) ? nullptr : settings.digest.c_str(),
                            libctx, nullptr, key, nullptr) != 1) {
    return OpenSslError("EVP_DigestSignInit_ex");
  }
  if (!Configure(pctx, settings)) return OpenSslError("configuring");
  size_t length = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &length, message.data(),
                     message.size()) != 1) {
    return OpenSslError("EVP_DigestSign (size)");
  }
  std::vector<uint8_t> signature(length);
  if (EVP_DigestSign(ctx.get(), signature.data(), &length, message.data(),
                     message.size()) != 1) {
    return OpenSslError("EVP_DigestSign");
  }
  signature.resize(length);
  return signature;
}

bool DigestVerify(EVP_PKEY* key, const SignSettings& settings,
                  std::span<const uint8_t> message,
                  std::span<const uint8_t> signature, OSSL_LIB_CTX* libctx) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (EVP_DigestVerifyInit_ex(
          ctx.get(), &pctx, IsEd25519(key) ? nullptr : settings.digest.c_str(),
          libctx, libctx == nullptr ? "provider=default" : nullptr, key,
          nullptr) != 1 ||
      !Configure(pctx, settings)) {
    ADD_FAILURE() << OpenSslError("verify setup").message();
    return false;
  }
  const bool ok =
      EVP_DigestVerify(ctx.get(), signature.data(), signature.size(),
                       message.data(), message.size()) == 1;
  ERR_clear_error();
  return ok;
}

void ProviderFixture::SetUp() {
  libctx_.reset(OSSL_LIB_CTX_new());
  ASSERT_NE(libctx_, nullptr);
  ASSERT_OK_AND_ASSIGN(provider_, LoadKeyholdProvider(libctx_.get()));
}

absl::StatusOr<std::shared_ptr<SoftwareSigner>> ProviderFixture::CachedSigner(
    KeyType type) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* cache = new std::map<KeyType, std::shared_ptr<SoftwareSigner>>;
  absl::MutexLock lock(&mu);
  auto it = cache->find(type);
  if (it != cache->end()) return it->second;
  absl::StatusOr<std::unique_ptr<SoftwareSigner>> signer =
      SoftwareSigner::Generate(type);
  if (!signer.ok()) return signer.status();
  std::shared_ptr<SoftwareSigner> shared = *std::move(signer);
  cache->emplace(type, shared);
  return shared;
}

absl::StatusOr<ProviderFixture::SignerKey> ProviderFixture::MakeSignerKey(
    KeyType type) {
  absl::StatusOr<std::shared_ptr<SoftwareSigner>> signer = CachedSigner(type);
  if (!signer.ok()) return signer.status();
  absl::StatusOr<EvpPkeyPtr> key = MakeSignerPkey(libctx(), *signer);
  if (!key.ok()) return key.status();
  return SignerKey{*std::move(signer), *std::move(key)};
}

}  // namespace keyhold::testing
