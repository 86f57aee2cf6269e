// The AlgorithmIdentifier keyhold hands to X509_sign_ctx & co. is byte for
// byte what OpenSSL's default provider produces for the same settings, and
// the encoder alone gets the RFC details right.
#include "tokens/provider/algorithm_id.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <openssl/core_names.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "absl/strings/escaping.h"
#include "tests/status_matchers.h"
#include "tests/testing/test_pki.h"
#include "tests/unit/tokens/provider/provider_fixture.h"
#include "tokens/openssl_error.h"

namespace keyhold::testing {
namespace {

std::string Hex(const std::vector<uint8_t>& bytes) {
  return absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// The "algorithm-id" of a digest-sign context for `key` with `settings`.
absl::StatusOr<std::vector<uint8_t>> AlgorithmIdOf(
    OSSL_LIB_CTX* libctx, EVP_PKEY* key, const SignSettings& settings) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  const bool pure = EVP_PKEY_is_a(key, "ED25519");
  if (EVP_DigestSignInit_ex(ctx.get(), &pctx,
                            pure ? nullptr : settings.digest.c_str(), libctx,
                            nullptr, key, nullptr) != 1) {
    return OpenSslError("init");
  }
  if ((settings.pad_mode &&
       EVP_PKEY_CTX_set_rsa_padding(pctx, *settings.pad_mode) != 1) ||
      (settings.salt_length &&
       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, *settings.salt_length) != 1) ||
      (settings.mgf1_digest &&
       EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, settings.mgf1_digest->c_str(),
                                         nullptr) != 1)) {
    return OpenSslError("settings");
  }
  std::vector<uint8_t> buffer(256);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID,
                                        buffer.data(), buffer.size()),
      OSSL_PARAM_construct_end()};
  if (EVP_PKEY_CTX_get_params(pctx, params) != 1) return OpenSslError("get");
  buffer.resize(params[0].return_size);
  return buffer;
}

struct AidCase {
  std::string name;
  KeyType type;
  SignSettings settings;
  friend void PrintTo(const AidCase& c, std::ostream* os) { *os << c.name; }
};

std::string CaseName(const ::testing::TestParamInfo<AidCase>& param_info) {
  return param_info.param.name;
}

class MatchesDefaultProviderTest
    : public ProviderFixture,
      public ::testing::WithParamInterface<AidCase> {};

TEST_P(MatchesDefaultProviderTest, SameBytesAsDefaultProvider) {
  ASSERT_OK_AND_ASSIGN(SignerKey keyhold_key, MakeSignerKey(GetParam().type));
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr default_key,
                       GenerateTestKey(nullptr, GetParam().type));
  ASSERT_OK_AND_ASSIGN(
      std::vector<uint8_t> expected,
      AlgorithmIdOf(nullptr, default_key.get(), GetParam().settings));
  ASSERT_OK_AND_ASSIGN(
      std::vector<uint8_t> actual,
      AlgorithmIdOf(libctx(), keyhold_key.key.get(), GetParam().settings));
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(Hex(actual), Hex(expected));
}

SignSettings Pss(std::string digest, int salt_length) {
  return {.digest = std::move(digest),
          .pad_mode = RSA_PKCS1_PSS_PADDING,
          .salt_length = salt_length};
}

INSTANTIATE_TEST_SUITE_P(
    Settings, MatchesDefaultProviderTest,
    ::testing::Values(
        AidCase{"RsaPkcs1Sha224", KeyType::kRsa2048, {.digest = "SHA224"}},
        AidCase{"RsaPkcs1Sha256", KeyType::kRsa2048, {.digest = "SHA256"}},
        AidCase{"RsaPkcs1Sha384", KeyType::kRsa2048, {.digest = "SHA384"}},
        AidCase{"RsaPkcs1Sha512", KeyType::kRsa2048, {.digest = "SHA512"}},
        AidCase{"RsaPssSaltDigest", KeyType::kRsa2048,
                Pss("SHA256", RSA_PSS_SALTLEN_DIGEST)},
        AidCase{"RsaPssSaltMax", KeyType::kRsa2048,
                Pss("SHA256", RSA_PSS_SALTLEN_MAX)},
        AidCase{"RsaPssSaltAuto", KeyType::kRsa2048,
                Pss("SHA384", RSA_PSS_SALTLEN_AUTO)},
        AidCase{"RsaPssSaltTwentyIsOmitted", KeyType::kRsa2048,
                Pss("SHA256", 20)},
        AidCase{"RsaPssSaltZero", KeyType::kRsa2048, Pss("SHA512", 0)},
        AidCase{"RsaPssMgf1Sha512",
                KeyType::kRsa2048,
                {.digest = "SHA256",
                 .pad_mode = RSA_PKCS1_PSS_PADDING,
                 .salt_length = 32,
                 .mgf1_digest = "SHA512"}},
        AidCase{"EcdsaSha224", KeyType::kEcP256, {.digest = "SHA224"}},
        AidCase{"EcdsaSha256", KeyType::kEcP256, {.digest = "SHA256"}},
        AidCase{"EcdsaSha384", KeyType::kEcP384, {.digest = "SHA384"}},
        AidCase{"EcdsaSha512", KeyType::kEcP384, {.digest = "SHA512"}},
        AidCase{"Ed25519", KeyType::kEd25519, {}}),
    CaseName);

TEST(AlgorithmIdTest, RsaPkcs1HasNullParameters) {
  ASSERT_OK_AND_ASSIGN(
      std::vector<uint8_t> der,
      SignatureAlgorithmIdentifier({.scheme = SignatureScheme::kRsaPkcs1,
                                    .hash = HashAlgorithm::kSha256}));
  const unsigned char* p = der.data();
  X509AlgorPtr algorithm(
      d2i_X509_ALGOR(nullptr, &p, static_cast<long>(der.size())));
  ASSERT_NE(algorithm, nullptr);
  const ASN1_OBJECT* oid = nullptr;
  int parameter_type = 0;
  X509_ALGOR_get0(&oid, &parameter_type, nullptr, algorithm.get());
  EXPECT_EQ(OBJ_obj2nid(oid), NID_sha256WithRSAEncryption);
  EXPECT_EQ(parameter_type, V_ASN1_NULL);
}

TEST(AlgorithmIdTest, EcdsaHasNoParameters) {
  ASSERT_OK_AND_ASSIGN(
      std::vector<uint8_t> der,
      SignatureAlgorithmIdentifier(
          {.scheme = SignatureScheme::kEcdsa, .hash = HashAlgorithm::kSha384}));
  const unsigned char* p = der.data();
  X509AlgorPtr algorithm(
      d2i_X509_ALGOR(nullptr, &p, static_cast<long>(der.size())));
  ASSERT_NE(algorithm, nullptr);
  const ASN1_OBJECT* oid = nullptr;
  int parameter_type = 0;
  X509_ALGOR_get0(&oid, &parameter_type, nullptr, algorithm.get());
  EXPECT_EQ(OBJ_obj2nid(oid), NID_ecdsa_with_SHA384);
  EXPECT_EQ(parameter_type, V_ASN1_UNDEF);
}

TEST(AlgorithmIdTest, Ed25519IsTheBareOid) {
  ASSERT_OK_AND_ASSIGN(
      std::vector<uint8_t> der,
      SignatureAlgorithmIdentifier({.scheme = SignatureScheme::kEd25519}));
  EXPECT_EQ(Hex(der), "300506032b6570");
}

// RSASSA-PSS, SHA-256, MGF1 with SHA-256, salt 32 (RFC 4055 §3.1 layout).
TEST(AlgorithmIdTest, RsaPssSha256Salt32KnownAnswer) {
  ASSERT_OK_AND_ASSIGN(
      std::vector<uint8_t> der,
      SignatureAlgorithmIdentifier({.scheme = SignatureScheme::kRsaPss,
                                    .hash = HashAlgorithm::kSha256,
                                    .mgf1_hash = HashAlgorithm::kSha256,
                                    .pss_salt_length = 32}));
  EXPECT_EQ(Hex(der),
            "3041"
            "06092a864886f70d01010a"
            "3034"
            "a00f300d06096086480165030402010500"
            "a11c301a06092a864886f70d010108300d06096086480165030402010500"
            "a203020120");
}

TEST(AlgorithmIdTest, RsaPssUnresolvedSaltLengthIsRefused) {
  EXPECT_THAT(
      SignatureAlgorithmIdentifier({.scheme = SignatureScheme::kRsaPss,
                                    .hash = HashAlgorithm::kSha256,
                                    .mgf1_hash = HashAlgorithm::kSha256,
                                    .pss_salt_length = RSA_PSS_SALTLEN_DIGEST}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               ::testing::HasSubstr("salt length")));
}

}  // namespace
}  // namespace keyhold::testing
