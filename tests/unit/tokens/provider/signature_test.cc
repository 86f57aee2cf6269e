// Signatures made through a keyhold key verify with the default provider
// against the signer's public key, for every scheme and setting OpenSSL
// callers use; the Signer is asked for exactly what the caller chose.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include <openssl/err.h>
#include <openssl/rsa.h>

#include "tests/status_matchers.h"
#include "tests/testing/fake_signers.h"
#include "tests/unit/tokens/provider/provider_fixture.h"
#include "tokens/openssl_error.h"

namespace keyhold::testing {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kMessage = "keyhold signs this message";

template <typename Case>
std::string CaseName(const ::testing::TestParamInfo<Case>& param_info) {
  return param_info.param.name;
}

// ---- Every scheme, one-shot EVP_DigestSign --------------------------------

struct SchemeCase {
  std::string name;
  KeyType type;
  SignSettings settings;
  friend void PrintTo(const SchemeCase& c, std::ostream* os) { *os << c.name; }
};

class DigestSignVerifiesTest
    : public ProviderFixture,
      public ::testing::WithParamInterface<SchemeCase> {};

TEST_P(DigestSignVerifiesTest, SignatureVerifiesWithSignerPublicKey) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(GetParam().type));
  ASSERT_OK_AND_ASSIGN(std::vector<uint8_t> signature,
                       DigestSign(libctx(), key.key.get(), GetParam().settings,
                                  AsBytes(kMessage)));
  EXPECT_TRUE(DigestVerify(key.signer->PublicKey(), GetParam().settings,
                           AsBytes(kMessage), signature));
}

TEST_P(DigestSignVerifiesTest, KeyholdKeyVerifiesTheSignature) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(GetParam().type));
  ASSERT_OK_AND_ASSIGN(std::vector<uint8_t> signature,
                       DigestSign(libctx(), key.key.get(), GetParam().settings,
                                  AsBytes(kMessage)));
  EXPECT_TRUE(DigestVerify(key.key.get(), GetParam().settings,
                           AsBytes(kMessage), signature, libctx()));
}

TEST_P(DigestSignVerifiesTest, KeyholdKeyRejectsATamperedSignature) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(GetParam().type));
  ASSERT_OK_AND_ASSIGN(std::vector<uint8_t> signature,
                       DigestSign(libctx(), key.key.get(), GetParam().settings,
                                  AsBytes(kMessage)));
  signature[signature.size() / 2] ^= 0x01;
  EXPECT_FALSE(DigestVerify(key.key.get(), GetParam().settings,
                            AsBytes(kMessage), signature, libctx()));
}

SignSettings Pss(std::string digest, int salt_length) {
  return {.digest = std::move(digest),
          .pad_mode = RSA_PKCS1_PSS_PADDING,
          .salt_length = salt_length};
}

INSTANTIATE_TEST_SUITE_P(
    Schemes, DigestSignVerifiesTest,
    ::testing::Values(
        SchemeCase{"RsaPkcs1Sha256", KeyType::kRsa2048, {.digest = "SHA256"}},
        SchemeCase{"RsaPkcs1Sha384", KeyType::kRsa2048, {.digest = "SHA384"}},
        SchemeCase{"RsaPkcs1Sha512", KeyType::kRsa2048, {.digest = "SHA512"}},
        SchemeCase{
            "RsaPkcs1Sha2_256Alias", KeyType::kRsa2048, {.digest = "SHA2-256"}},
        SchemeCase{"RsaPkcs1Rsa3072", KeyType::kRsa3072, {.digest = "SHA384"}},
        // Verified with the explicit length, which OpenSSL checks exactly.
        SchemeCase{"RsaPssSaltDigestLength", KeyType::kRsa2048,
                   Pss("SHA256", 32)},
        SchemeCase{"RsaPssSaltZero", KeyType::kRsa2048, Pss("SHA256", 0)},
        SchemeCase{"RsaPssSaltTwenty", KeyType::kRsa2048, Pss("SHA256", 20)},
        SchemeCase{"RsaPssSaltMaxSha256", KeyType::kRsa2048,
                   Pss("SHA256", 256 - 32 - 2)},
        SchemeCase{"RsaPssSha384", KeyType::kRsa2048, Pss("SHA384", 48)},
        SchemeCase{"RsaPssSha512", KeyType::kRsa2048, Pss("SHA512", 64)},
        SchemeCase{"RsaPssMgf1Differs",
                   KeyType::kRsa2048,
                   {.digest = "SHA256",
                    .pad_mode = RSA_PKCS1_PSS_PADDING,
                    .salt_length = 32,
                    .mgf1_digest = "SHA512"}},
        SchemeCase{"EcdsaP256Sha256", KeyType::kEcP256, {.digest = "SHA256"}},
        SchemeCase{"EcdsaP256Sha384", KeyType::kEcP256, {.digest = "SHA384"}},
        SchemeCase{"EcdsaP384Sha384", KeyType::kEcP384, {.digest = "SHA384"}},
        SchemeCase{"EcdsaP384Sha256", KeyType::kEcP384, {.digest = "SHA256"}},
        SchemeCase{"EcdsaP384Sha512", KeyType::kEcP384, {.digest = "SHA512"}},
        SchemeCase{"Ed25519", KeyType::kEd25519, {}}),
    CaseName<SchemeCase>);

// ---- The salt length the Signer is asked for --------------------------------

struct SaltCase {
  std::string name;
  int requested;  // What the caller sets.
  int expected;   // What a 2048-bit key with SHA-256 must get.
  friend void PrintTo(const SaltCase& c, std::ostream* os) { *os << c.name; }
};

class PssSaltLengthTest : public ProviderFixture,
                          public ::testing::WithParamInterface<SaltCase> {};

TEST_P(PssSaltLengthTest, SignerGetsResolvedSaltLength) {
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<SoftwareSigner> software,
                       CachedSigner(KeyType::kRsa2048));
  auto recorder = std::make_shared<RecordingSigner>(software);
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr key, MakeSignerPkey(libctx(), recorder));
  ASSERT_OK_AND_ASSIGN(
      std::vector<uint8_t> signature,
      DigestSign(libctx(), key.get(), Pss("SHA256", GetParam().requested),
                 AsBytes(kMessage)));
  ASSERT_EQ(recorder->calls().size(), 1u);
  EXPECT_EQ(recorder->calls()[0].algorithm.pss_salt_length,
            GetParam().expected);
  EXPECT_TRUE(DigestVerify(software->PublicKey(),
                           Pss("SHA256", GetParam().expected),
                           AsBytes(kMessage), signature));
}

INSTANTIATE_TEST_SUITE_P(
    SaltLengths, PssSaltLengthTest,
    ::testing::Values(SaltCase{"Digest", RSA_PSS_SALTLEN_DIGEST, 32},
                      SaltCase{"Max", RSA_PSS_SALTLEN_MAX, 222},
                      // OpenSSL 3.0 signs "auto" with the maximum.
                      SaltCase{"Auto", RSA_PSS_SALTLEN_AUTO, 222},
                      SaltCase{"Explicit17", 17, 17}),
    CaseName<SaltCase>);

// ---- Single properties ------------------------------------------------------

using SignatureTest = ProviderFixture;

TEST_F(SignatureTest, SignerGetsPssWithMgf1DefaultingToDigest) {
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<SoftwareSigner> software,
                       CachedSigner(KeyType::kRsa2048));
  auto recorder = std::make_shared<RecordingSigner>(software);
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr key, MakeSignerPkey(libctx(), recorder));
  ASSERT_THAT(
      DigestSign(libctx(), key.get(), Pss("SHA384", RSA_PSS_SALTLEN_DIGEST),
                 AsBytes(kMessage)),
      IsOk());
  ASSERT_EQ(recorder->calls().size(), 1u);
  const SignatureAlgorithm algorithm = recorder->calls()[0].algorithm;
  EXPECT_EQ(algorithm.scheme, SignatureScheme::kRsaPss);
  EXPECT_EQ(algorithm.hash, HashAlgorithm::kSha384);
  EXPECT_EQ(algorithm.mgf1_hash, HashAlgorithm::kSha384);
  EXPECT_EQ(recorder->calls()[0].input_size, 48u);
}

TEST_F(SignatureTest, Ed25519SignerGetsWholeMessage) {
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<SoftwareSigner> software,
                       CachedSigner(KeyType::kEd25519));
  auto recorder = std::make_shared<RecordingSigner>(software);
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr key, MakeSignerPkey(libctx(), recorder));
  ASSERT_THAT(DigestSign(libctx(), key.get(), {}, AsBytes(kMessage)), IsOk());
  ASSERT_EQ(recorder->calls().size(), 1u);
  EXPECT_EQ(recorder->calls()[0].algorithm.scheme, SignatureScheme::kEd25519);
  EXPECT_EQ(recorder->calls()[0].input_size, kMessage.size());
}

TEST_F(SignatureTest, StreamingUpdatesSignTheConcatenation) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(KeyType::kEcP256));
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  ASSERT_EQ(EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", libctx(),
                                  nullptr, key.key.get(), nullptr),
            1);
  for (std::string_view chunk : {"keyhold ", "signs ", "this message"}) {
    ASSERT_EQ(EVP_DigestSignUpdate(ctx.get(), chunk.data(), chunk.size()), 1);
  }
  size_t length = 0;
  ASSERT_EQ(EVP_DigestSignFinal(ctx.get(), nullptr, &length), 1);
  std::vector<uint8_t> signature(length);
  ASSERT_EQ(EVP_DigestSignFinal(ctx.get(), signature.data(), &length), 1)
      << DrainOpenSslErrors();
  signature.resize(length);
  EXPECT_TRUE(DigestVerify(key.signer->PublicKey(), {.digest = "SHA256"},
                           AsBytes(kMessage), signature));
}

TEST_F(SignatureTest, PkeySignWithDigestInputVerifies) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(KeyType::kRsa2048));
  std::vector<uint8_t> digest(32);
  unsigned int digest_length = 0;
  ASSERT_EQ(EVP_Digest(kMessage.data(), kMessage.size(), digest.data(),
                       &digest_length, EVP_sha256(), nullptr),
            1);
  EvpPkeyCtxPtr ctx(
      EVP_PKEY_CTX_new_from_pkey(libctx(), key.key.get(), nullptr));
  ASSERT_EQ(EVP_PKEY_sign_init(ctx.get()), 1) << DrainOpenSslErrors();
  ASSERT_EQ(EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()), 1);
  size_t length = 0;
  ASSERT_EQ(EVP_PKEY_sign(ctx.get(), nullptr, &length, digest.data(), 32), 1);
  std::vector<uint8_t> signature(length);
  ASSERT_EQ(
      EVP_PKEY_sign(ctx.get(), signature.data(), &length, digest.data(), 32), 1)
      << DrainOpenSslErrors();
  signature.resize(length);
  EXPECT_TRUE(DigestVerify(key.signer->PublicKey(), {.digest = "SHA256"},
                           AsBytes(kMessage), signature));
}

TEST_F(SignatureTest, PkeyVerifyWithKeyholdKeyChecksDigestSignature) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(KeyType::kRsa2048));
  const SignSettings pss = Pss("SHA256", RSA_PSS_SALTLEN_DIGEST);
  ASSERT_OK_AND_ASSIGN(
      std::vector<uint8_t> signature,
      DigestSign(libctx(), key.key.get(), pss, AsBytes(kMessage)));
  std::vector<uint8_t> digest(32);
  unsigned int digest_length = 0;
  ASSERT_EQ(EVP_Digest(kMessage.data(), kMessage.size(), digest.data(),
                       &digest_length, EVP_sha256(), nullptr),
            1);
  EvpPkeyCtxPtr ctx(
      EVP_PKEY_CTX_new_from_pkey(libctx(), key.key.get(), nullptr));
  ASSERT_EQ(EVP_PKEY_verify_init(ctx.get()), 1) << DrainOpenSslErrors();
  ASSERT_EQ(EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()), 1);
  ASSERT_EQ(EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING), 1);
  EXPECT_EQ(EVP_PKEY_verify(ctx.get(), signature.data(), signature.size(),
                            digest.data(), digest.size()),
            1)
      << DrainOpenSslErrors();
}

TEST_F(SignatureTest, PkeySignEcdsaWithoutDigestInfersHashFromLength) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(KeyType::kEcP384));
  std::vector<uint8_t> digest(48);
  unsigned int digest_length = 0;
  ASSERT_EQ(EVP_Digest(kMessage.data(), kMessage.size(), digest.data(),
                       &digest_length, EVP_sha384(), nullptr),
            1);
  EvpPkeyCtxPtr ctx(
      EVP_PKEY_CTX_new_from_pkey(libctx(), key.key.get(), nullptr));
  ASSERT_EQ(EVP_PKEY_sign_init(ctx.get()), 1);
  size_t length = 256;
  std::vector<uint8_t> signature(length);
  ASSERT_EQ(EVP_PKEY_sign(ctx.get(), signature.data(), &length, digest.data(),
                          digest.size()),
            1)
      << DrainOpenSslErrors();
  signature.resize(length);
  EXPECT_TRUE(DigestVerify(key.signer->PublicKey(), {.digest = "SHA384"},
                           AsBytes(kMessage), signature));
}

TEST_F(SignatureTest, CtrlStringsChoosePssAndSaltLength) {
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<SoftwareSigner> software,
                       CachedSigner(KeyType::kRsa2048));
  auto recorder = std::make_shared<RecordingSigner>(software);
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr key, MakeSignerPkey(libctx(), recorder));
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  ASSERT_EQ(EVP_DigestSignInit_ex(ctx.get(), &pctx, "SHA256", libctx(), nullptr,
                                  key.get(), nullptr),
            1);
  // What `openssl ... -sigopt rsa_padding_mode:pss` sends.
  ASSERT_EQ(EVP_PKEY_CTX_ctrl_str(pctx, "rsa_padding_mode", "pss"), 1)
      << DrainOpenSslErrors();
  ASSERT_EQ(EVP_PKEY_CTX_ctrl_str(pctx, "rsa_pss_saltlen", "digest"), 1)
      << DrainOpenSslErrors();
  ASSERT_EQ(EVP_PKEY_CTX_ctrl_str(pctx, "rsa_mgf1_md", "SHA512"), 1)
      << DrainOpenSslErrors();
  size_t length = 512;
  std::vector<uint8_t> signature(length);
  ASSERT_EQ(
      EVP_DigestSign(ctx.get(), signature.data(), &length,
                     reinterpret_cast<const unsigned char*>(kMessage.data()),
                     kMessage.size()),
      1);
  ASSERT_EQ(recorder->calls().size(), 1u);
  EXPECT_EQ(recorder->calls()[0].algorithm,
            (SignatureAlgorithm{.scheme = SignatureScheme::kRsaPss,
                                .hash = HashAlgorithm::kSha256,
                                .mgf1_hash = HashAlgorithm::kSha512,
                                .pss_salt_length = 32}));
}

TEST_F(SignatureTest, GettersReportPaddingAndSaltLength) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(KeyType::kRsa2048));
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  ASSERT_EQ(EVP_DigestSignInit_ex(ctx.get(), &pctx, "SHA256", libctx(), nullptr,
                                  key.key.get(), nullptr),
            1);
  ASSERT_EQ(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
  ASSERT_EQ(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST), 1);
  int padding = 0;
  int salt_length = 0;
  // Success is "positive" (OpenSSL returns the length of the string the
  // ctrl was translated through, with the default provider too).
  ASSERT_GT(EVP_PKEY_CTX_get_rsa_padding(pctx, &padding), 0)
      << DrainOpenSslErrors();
  ASSERT_GT(EVP_PKEY_CTX_get_rsa_pss_saltlen(pctx, &salt_length), 0)
      << DrainOpenSslErrors();
  EXPECT_EQ(padding, RSA_PKCS1_PSS_PADDING);
  EXPECT_EQ(salt_length, RSA_PSS_SALTLEN_DIGEST);
}

TEST_F(SignatureTest, SignerErrorFailsDigestSignWithItsMessage) {
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<FailingSigner> failing,
      FailingSigner::Create(KeyType::kEcP256,
                            absl::UnavailableError("token unplugged")));
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr key,
                       MakeSignerPkey(libctx(), std::move(failing)));
  ERR_clear_error();
  EXPECT_THAT(DigestSign(libctx(), key.get(), {}, AsBytes(kMessage)),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("UNAVAILABLE: token unplugged")));
}

TEST_F(SignatureTest, SignerErrorIsFiledUnderTheKeyholdLibrary) {
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<FailingSigner> failing,
      FailingSigner::Create(KeyType::kRsa2048, absl::InternalError("boom")));
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr key,
                       MakeSignerPkey(libctx(), std::move(failing)));
  ERR_clear_error();
  ASSERT_THAT(DigestSign(libctx(), key.get(), {}, AsBytes(kMessage)),
              ::testing::Not(IsOk()));
  // DigestSign drained the queue into its status; sign again and look.
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  ASSERT_EQ(EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", libctx(),
                                  nullptr, key.get(), nullptr),
            1);
  size_t length = 512;
  std::vector<uint8_t> signature(length);
  ASSERT_NE(EVP_DigestSign(ctx.get(), signature.data(), &length,
                           AsBytes(kMessage).data(), kMessage.size()),
            1);
  const unsigned long error = ERR_peek_error();
  ASSERT_NE(error, 0u);
  EXPECT_STREQ(ERR_lib_error_string(error), "keyhold");
  EXPECT_STREQ(ERR_reason_error_string(error), "signer failed");
  ERR_clear_error();
}

TEST_F(SignatureTest, Sha1IsRefusedAtInit) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(KeyType::kRsa2048));
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EXPECT_NE(EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA1", libctx(), nullptr,
                                  key.key.get(), nullptr),
            1);
  EXPECT_THAT(DrainOpenSslErrors(), HasSubstr("SHA1"));
}

TEST_F(SignatureTest, UnsupportedPaddingIsRefused) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(KeyType::kRsa2048));
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  ASSERT_EQ(EVP_DigestSignInit_ex(ctx.get(), &pctx, "SHA256", libctx(), nullptr,
                                  key.key.get(), nullptr),
            1);
  EXPECT_NE(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_X931_PADDING), 1);
  EXPECT_THAT(DrainOpenSslErrors(), HasSubstr("RSA_PKCS1_PSS_PADDING"));
}

TEST_F(SignatureTest, Ed25519RefusesADigest) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(KeyType::kEd25519));
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EXPECT_NE(EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", libctx(),
                                  nullptr, key.key.get(), nullptr),
            1);
  EXPECT_THAT(DrainOpenSslErrors(), HasSubstr("Ed25519"));
}

TEST_F(SignatureTest, Ed25519RefusesStreaming) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(KeyType::kEd25519));
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  ASSERT_EQ(EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, libctx(),
                                  nullptr, key.key.get(), nullptr),
            1);
  EXPECT_NE(EVP_DigestSignUpdate(ctx.get(), kMessage.data(), kMessage.size()),
            1);
  ERR_clear_error();
}

TEST_F(SignatureTest, TooSmallBufferFailsBeforeTheSignerIsAsked) {
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<SoftwareSigner> software,
                       CachedSigner(KeyType::kEcP256));
  auto recorder = std::make_shared<RecordingSigner>(software);
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr key, MakeSignerPkey(libctx(), recorder));
  std::vector<uint8_t> digest(32, 0x5A);
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(libctx(), key.get(), nullptr));
  ASSERT_EQ(EVP_PKEY_sign_init(ctx.get()), 1);
  // 70 bytes may hold this P-256 signature, but not every one (up to 72).
  std::vector<uint8_t> signature(70);
  size_t length = signature.size();
  EXPECT_NE(EVP_PKEY_sign(ctx.get(), signature.data(), &length, digest.data(), digest.size()),
            1);
  EXPECT_THAT(DrainOpenSslErrors(), HasSubstr("take up to 72"));
  EXPECT_TRUE(recorder->calls().empty()) << "a signature was made for nothing";
}

TEST_F(SignatureTest, PkeySignEcdsaGuessesTheHashAgainForEachInput) {
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<SoftwareSigner> software,
                       CachedSigner(KeyType::kEcP384));
  auto recorder = std::make_shared<RecordingSigner>(software);
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr key, MakeSignerPkey(libctx(), recorder));
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(libctx(), key.get(), nullptr));
  ASSERT_EQ(EVP_PKEY_sign_init(ctx.get()), 1);
  for (size_t digest_size : {32u, 48u, 32u}) {
    SCOPED_TRACE(digest_size);
    std::vector<uint8_t> digest(digest_size, 0x5A);
    std::vector<uint8_t> signature(256);
    size_t length = signature.size();
    ASSERT_EQ(EVP_PKEY_sign(ctx.get(), signature.data(), &length, digest.data(), digest.size()),
              1)
        << DrainOpenSslErrors();
  }
  ASSERT_EQ(recorder->calls().size(), 3u);
  EXPECT_EQ(recorder->calls()[0].algorithm.hash, HashAlgorithm::kSha256);
  EXPECT_EQ(recorder->calls()[1].algorithm.hash, HashAlgorithm::kSha384);
  EXPECT_EQ(recorder->calls()[2].algorithm.hash, HashAlgorithm::kSha256);
}

TEST_F(SignatureTest, ConcurrentSigningFromManyThreadsVerifies) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(KeyType::kEcP256));
  constexpr int kThreads = 4;
  constexpr int kSignaturesPerThread = 25;
  std::vector<std::thread> threads;
  std::atomic<int> verified{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kSignaturesPerThread; ++i) {
        absl::StatusOr<std::vector<uint8_t>> signature =
            DigestSign(libctx(), key.key.get(), {}, AsBytes(kMessage));
        if (signature.ok() && DigestVerify(key.signer->PublicKey(), {},
                                           AsBytes(kMessage), *signature)) {
          ++verified;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(verified.load(), kThreads * kSignaturesPerThread);
}

}  // namespace
}  // namespace keyhold::testing
