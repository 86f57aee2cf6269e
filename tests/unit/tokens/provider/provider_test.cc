// Loading keyhold into a library context: it is there, it announces
// itself, and it stays out of the way of ordinary keys, which keep using
// the default provider's algorithms.
#include "tokens/provider/provider.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <openssl/core_names.h>

#include "tests/status_matchers.h"
#include "tests/testing/test_pki.h"
#include "tests/unit/tokens/provider/provider_fixture.h"
#include "tokens/openssl_error.h"

namespace keyhold::testing {
namespace {

std::string Name(const OSSL_PROVIDER* provider) {
  return provider == nullptr ? "(none)" : OSSL_PROVIDER_get0_name(provider);
}

// The provider whose signature implementation a digest-sign of `key` in
// `libctx` ends up with.
std::string SignatureProviderFor(OSSL_LIB_CTX* libctx, EVP_PKEY* key) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (EVP_DigestSignInit_ex(ctx.get(), &pctx, "SHA256", libctx, nullptr, key,
                            nullptr) != 1) {
    return "init failed: " + DrainOpenSslErrors();
  }
  return Name(EVP_PKEY_CTX_get0_provider(pctx));
}

using ProviderTest = ProviderFixture;

TEST_F(ProviderTest, BothProvidersAreAvailable) {
  EXPECT_EQ(OSSL_PROVIDER_available(libctx(), "default"), 1);
  EXPECT_EQ(OSSL_PROVIDER_available(libctx(), "keyhold"), 1);
}

TEST_F(ProviderTest, ReportsItsNameAndStatus) {
  OsslProviderPtr keyhold(OSSL_PROVIDER_load(libctx(), "keyhold"));
  ASSERT_NE(keyhold, nullptr);
  const char* name = nullptr;
  int status = 0;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_ptr(OSSL_PROV_PARAM_NAME,
                                    const_cast<char**>(&name), 0),
      OSSL_PARAM_construct_int(OSSL_PROV_PARAM_STATUS, &status),
      OSSL_PARAM_construct_end()};
  ASSERT_EQ(OSSL_PROVIDER_get_params(keyhold.get(), params), 1);
  EXPECT_THAT(name, ::testing::HasSubstr("keyhold"));
  EXPECT_EQ(status, 1);
}

TEST_F(ProviderTest, OrdinaryKeysComeFromDefaultProvider) {
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr key,
                       GenerateTestKey(libctx(), KeyType::kRsa2048));
  EXPECT_EQ(Name(EVP_PKEY_get0_provider(key.get())), "default");
}

TEST_F(ProviderTest, OrdinaryKeysSignWithDefaultProvider) {
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr key,
                       GenerateTestKey(libctx(), KeyType::kEcP256));
  EXPECT_EQ(SignatureProviderFor(libctx(), key.get()), "default");
}

TEST_F(ProviderTest, OrdinaryKeySignatureVerifies) {
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr key,
                       GenerateTestKey(libctx(), KeyType::kRsa2048));
  ASSERT_OK_AND_ASSIGN(std::vector<uint8_t> signature,
                       DigestSign(libctx(), key.get(), {}, AsBytes("plain")));
  EXPECT_TRUE(DigestVerify(key.get(), {}, AsBytes("plain"), signature));
}

// libcrypto first tries the default provider's signature (the preferred
// one), cannot move the key there (export of the private half is refused)
// and falls back to the signature of the key's own provider.
TEST_F(ProviderTest, KeyholdKeysSignWithKeyholdProvider) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(KeyType::kEcP256));
  EXPECT_EQ(SignatureProviderFor(libctx(), key.key.get()), "keyhold");
}

TEST_F(ProviderTest, LoadingTwiceInOneContextWorks) {
  ASSERT_OK_AND_ASSIGN(KeyholdProvider second, LoadKeyholdProvider(libctx()));
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(KeyType::kEcP256));
  EXPECT_THAT(DigestSign(libctx(), key.key.get(), {}, AsBytes("twice")),
              IsOk());
}

TEST(ProviderContextTest, ContextsAreIndependent) {
  OsslLibCtxPtr first(OSSL_LIB_CTX_new());
  OsslLibCtxPtr second(OSSL_LIB_CTX_new());
  ASSERT_OK_AND_ASSIGN(KeyholdProvider first_provider,
                       LoadKeyholdProvider(first.get()));
  EXPECT_EQ(OSSL_PROVIDER_available(second.get(), "keyhold"), 0);
}

}  // namespace
}  // namespace keyhold::testing
