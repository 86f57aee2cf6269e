// What a keyhold EVP_PKEY is: its type, size and public half come from the
// signer; its private half never leaves; the signer lives as long as the
// key; and only MakeSignerPkey can attach a signer.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "tests/status_matchers.h"
#include "tests/testing/test_pki.h"
#include "tests/unit/tokens/provider/provider_fixture.h"
#include "tokens/openssl_error.h"

namespace keyhold::testing {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> PublicKeyDer(EVP_PKEY* key) {
  const int length = i2d_PUBKEY(key, nullptr);
  if (length <= 0) return {};
  std::vector<uint8_t> der(static_cast<size_t>(length));
  uint8_t* out = der.data();
  i2d_PUBKEY(key, &out);
  return der;
}

std::string ProviderName(EVP_PKEY* key) {
  return OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(key));
}

// ---- Per key type --------------------------------------------------------

class KeyTypeTest : public ProviderFixture,
                    public ::testing::WithParamInterface<KeyType> {};

std::string TypeName(const ::testing::TestParamInfo<KeyType>& param_info) {
  std::string name(KeyTypeName(param_info.param));
  name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
  return name;
}

TEST_P(KeyTypeTest, KeyBelongsToKeyholdProvider) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(GetParam()));
  EXPECT_EQ(ProviderName(key.key.get()), "keyhold");
}

TEST_P(KeyTypeTest, KeyHasSignerKeyType) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(GetParam()));
  EXPECT_EQ(EVP_PKEY_get_id(key.key.get()),
            EVP_PKEY_get_id(key.signer->PublicKey()));
  EXPECT_TRUE(EVP_PKEY_is_a(key.key.get(),
                            EVP_PKEY_get0_type_name(key.signer->PublicKey())));
}

TEST_P(KeyTypeTest, SizesMatchSignerPublicKey) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(GetParam()));
  EVP_PKEY* expected = key.signer->PublicKey();
  EXPECT_EQ(EVP_PKEY_get_bits(key.key.get()), EVP_PKEY_get_bits(expected));
  EXPECT_EQ(EVP_PKEY_get_security_bits(key.key.get()),
            EVP_PKEY_get_security_bits(expected));
  EXPECT_EQ(EVP_PKEY_get_size(key.key.get()), EVP_PKEY_get_size(expected));
}

TEST_P(KeyTypeTest, PublicKeyEncodingEqualsSigners) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(GetParam()));
  const std::vector<uint8_t> der = PublicKeyDer(key.key.get());
  ASSERT_FALSE(der.empty()) << DrainOpenSslErrors();
  EXPECT_EQ(der, PublicKeyDer(key.signer->PublicKey()));
}

TEST_P(KeyTypeTest, EqualsSignerPublicKeyBothWays) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(GetParam()));
  EXPECT_EQ(EVP_PKEY_eq(key.key.get(), key.signer->PublicKey()), 1);
  EXPECT_EQ(EVP_PKEY_eq(key.signer->PublicKey(), key.key.get()), 1);
}

TEST_P(KeyTypeTest, PrivateHalfCannotBeExported) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(GetParam()));
  OSSL_PARAM* params = nullptr;
  EXPECT_NE(EVP_PKEY_todata(key.key.get(), EVP_PKEY_KEYPAIR, &params), 1);
  OsslParamPtr owned(params);
  ERR_clear_error();
}

TEST_P(KeyTypeTest, PublicHalfCanBeExported) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(GetParam()));
  OSSL_PARAM* params = nullptr;
  ASSERT_EQ(EVP_PKEY_todata(key.key.get(), EVP_PKEY_PUBLIC_KEY, &params), 1)
      << DrainOpenSslErrors();
  OsslParamPtr owned(params);
  const char* private_name = GetParam() == KeyType::kRsa2048
                                 ? OSSL_PKEY_PARAM_RSA_D
                                 : OSSL_PKEY_PARAM_PRIV_KEY;
  EXPECT_EQ(OSSL_PARAM_locate(params, private_name), nullptr);
}

TEST_P(KeyTypeTest, PrivateKeyPemCannotBeWritten) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(GetParam()));
  BioPtr bio(BIO_new(BIO_s_mem()));
  EXPECT_NE(PEM_write_bio_PrivateKey(bio.get(), key.key.get(), nullptr, nullptr,
                                     0, nullptr, nullptr),
            1);
  ERR_clear_error();
}

TEST_P(KeyTypeTest, DuplicateKeyStillSigns) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(GetParam()));
  EvpPkeyPtr copy(EVP_PKEY_dup(key.key.get()));
  ASSERT_NE(copy, nullptr) << DrainOpenSslErrors();
  ASSERT_OK_AND_ASSIGN(std::vector<uint8_t> signature,
                       DigestSign(libctx(), copy.get(), {}, AsBytes("dup")));
  EXPECT_TRUE(
      DigestVerify(key.signer->PublicKey(), {}, AsBytes("dup"), signature));
}

INSTANTIATE_TEST_SUITE_P(Types, KeyTypeTest,
                         ::testing::Values(KeyType::kRsa2048, KeyType::kEcP256,
                                           KeyType::kEcP384, KeyType::kEd25519),
                         TypeName);

// ---- Single properties ------------------------------------------------------

using KeymgmtTest = ProviderFixture;

TEST_F(KeymgmtTest, EcKeyReportsSignerGroup) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(KeyType::kEcP384));
  char group[64] = "";
  ASSERT_EQ(
      EVP_PKEY_get_group_name(key.key.get(), group, sizeof(group), nullptr), 1);
  EXPECT_STREQ(group, "secp384r1");
}

TEST_F(KeymgmtTest, KeyAnswersToLibsslCertificateTypeNames) {
  ASSERT_OK_AND_ASSIGN(SignerKey rsa, MakeSignerKey(KeyType::kRsa2048));
  ASSERT_OK_AND_ASSIGN(SignerKey ec, MakeSignerKey(KeyType::kEcP256));
  EXPECT_TRUE(EVP_PKEY_is_a(rsa.key.get(), "rsaEncryption"));
  EXPECT_TRUE(EVP_PKEY_is_a(ec.key.get(), "id-ecPublicKey"));
}

TEST_F(KeymgmtTest, NotEqualToAnotherKey) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(KeyType::kEcP256));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SoftwareSigner> other,
                       SoftwareSigner::Generate(KeyType::kEcP256));
  EXPECT_EQ(EVP_PKEY_eq(key.key.get(), other->PublicKey()), 0);
  ERR_clear_error();
}

TEST_F(KeymgmtTest, KeyKeepsSignerAlive) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SoftwareSigner> generated,
                       SoftwareSigner::Generate(KeyType::kEcP256));
  std::shared_ptr<SoftwareSigner> signer = std::move(generated);
  std::weak_ptr<SoftwareSigner> watch = signer;
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr key,
                       MakeSignerPkey(libctx(), std::move(signer)));
  EXPECT_FALSE(watch.expired());
  EXPECT_THAT(DigestSign(libctx(), key.get(), {}, AsBytes("alive")), IsOk());
}

TEST_F(KeymgmtTest, SignerIsReleasedWithTheKey) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SoftwareSigner> generated,
                       SoftwareSigner::Generate(KeyType::kEcP256));
  std::shared_ptr<SoftwareSigner> signer = std::move(generated);
  std::weak_ptr<SoftwareSigner> watch = signer;
  {
    ASSERT_OK_AND_ASSIGN(EvpPkeyPtr key,
                         MakeSignerPkey(libctx(), std::move(signer)));
    ASSERT_THAT(DigestSign(libctx(), key.get(), {}, AsBytes("bye")), IsOk());
  }
  EXPECT_TRUE(watch.expired());
}

TEST_F(KeymgmtTest, ForgedSignerHandleIsRejected) {
  EvpPkeyCtxPtr ctx(
      EVP_PKEY_CTX_new_from_name(libctx(), "EC", "provider=keyhold"));
  ASSERT_EQ(EVP_PKEY_fromdata_init(ctx.get()), 1);
  uint64_t forged = 0x1234567890ABCDEFull;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_uint64("keyhold-signer-handle", &forged),
      OSSL_PARAM_construct_end()};
  EVP_PKEY* key = nullptr;
  EXPECT_NE(EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_KEYPAIR, params), 1);
  EvpPkeyPtr owned(key);
  EXPECT_THAT(DrainOpenSslErrors(), HasSubstr("unknown or already used"));
}

TEST_F(KeymgmtTest, PrivateKeyMaterialIsRefused) {
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr software,
                       GenerateTestKey(nullptr, KeyType::kEcP256));
  OSSL_PARAM* keypair = nullptr;
  ASSERT_EQ(EVP_PKEY_todata(software.get(), EVP_PKEY_KEYPAIR, &keypair), 1);
  OsslParamPtr owned_params(keypair);
  EvpPkeyCtxPtr ctx(
      EVP_PKEY_CTX_new_from_name(libctx(), "EC", "provider=keyhold"));
  ASSERT_EQ(EVP_PKEY_fromdata_init(ctx.get()), 1);
  EVP_PKEY* key = nullptr;
  EXPECT_NE(EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_KEYPAIR, keypair), 1);
  EvpPkeyPtr owned(key);
  EXPECT_THAT(DrainOpenSslErrors(), HasSubstr("no private material"));
}

TEST_F(KeymgmtTest, ImportedPublicKeyCannotSign) {
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<SoftwareSigner> signer,
                       CachedSigner(KeyType::kEcP256));
  OSSL_PARAM* public_params = nullptr;
  ASSERT_EQ(
      EVP_PKEY_todata(signer->PublicKey(), EVP_PKEY_PUBLIC_KEY, &public_params),
      1);
  OsslParamPtr owned_params(public_params);
  EvpPkeyCtxPtr ctx(
      EVP_PKEY_CTX_new_from_name(libctx(), "EC", "provider=keyhold"));
  ASSERT_EQ(EVP_PKEY_fromdata_init(ctx.get()), 1);
  EVP_PKEY* key = nullptr;
  ASSERT_EQ(
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, public_params), 1)
      << DrainOpenSslErrors();
  EvpPkeyPtr owned(key);
  EXPECT_EQ(EVP_PKEY_eq(key, signer->PublicKey()), 1);
  EXPECT_THAT(DigestSign(libctx(), key, {}, AsBytes("no")),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("public-only")));
}

TEST_F(KeymgmtTest, MakeSignerPkeyNeedsTheProviderLoaded) {
  OsslLibCtxPtr bare(OSSL_LIB_CTX_new());
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<SoftwareSigner> signer,
                       CachedSigner(KeyType::kEcP256));
  EXPECT_THAT(MakeSignerPkey(bare.get(), signer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("LoadKeyholdProvider")));
}

TEST_F(KeymgmtTest, MakeSignerPkeyRefusesNullSigner) {
  EXPECT_THAT(
      MakeSignerPkey(libctx(), nullptr),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("signer")));
}

}  // namespace
}  // namespace keyhold::testing
