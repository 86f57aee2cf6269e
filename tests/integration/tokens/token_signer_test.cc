// TokenSigner against SoftHSM2: every scheme verifies with OpenSSL's default
// provider, concurrent signing, recovery after the token's sessions vanish,
// and clear errors for what the token cannot do.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "tests/integration/softhsm_token.h"
#include "tests/status_matchers.h"
#include "tokens/token.h"

namespace keyhold {
namespace {

using ::keyhold::testing::IsOk;
using ::keyhold::testing::SoftHsmToken;
using ::keyhold::testing::StatusIs;
using ::testing::HasSubstr;

std::vector<uint8_t> Digest(HashAlgorithm hash, const std::string& message) {
  std::vector<uint8_t> out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  EVP_Digest(message.data(), message.size(), out.data(), &len,
             EVP_get_digestbyname(std::string(HashName(hash)).c_str()), nullptr);
  out.resize(len);
  return out;
}

// Verifies a signature over a digest (or message, for Ed25519) with the
// default provider and the public key alone.
bool Verifies(EVP_PKEY* pub, const SignatureAlgorithm& alg,
              const std::vector<uint8_t>& input, const std::vector<uint8_t>& sig) {
  if (alg.scheme == SignatureScheme::kEd25519) {
    EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    return EVP_DigestVerifyInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr,
                                   pub, nullptr) == 1 &&
           EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), input.data(),
                            input.size()) == 1;
  }
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pub, nullptr));
  if (EVP_PKEY_verify_init(ctx.get()) != 1) return false;
  const EVP_MD* md = EVP_get_digestbyname(std::string(HashName(alg.hash)).c_str());
  EVP_PKEY_CTX_set_signature_md(ctx.get(), md);
  if (alg.scheme == SignatureScheme::kRsaPss) {
    EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), alg.pss_salt_length);
    EVP_PKEY_CTX_set_rsa_mgf1_md(
        ctx.get(), EVP_get_digestbyname(std::string(HashName(alg.mgf1_hash)).c_str()));
  } else if (alg.scheme == SignatureScheme::kRsaPkcs1) {
    EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING);
  }
  return EVP_PKEY_verify(ctx.get(), sig.data(), sig.size(), input.data(),
                         input.size()) == 1;
}

class TokenSignerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(hsm_, SoftHsmToken::Create());
    ASSERT_OK_AND_ASSIGN(token_, Token::Open(hsm_->config()));
  }

  std::unique_ptr<Signer> MakeSigner(KeyType type) {
    auto key = token_->GenerateKey(std::string(KeyTypeName(type)), type);
    EXPECT_THAT(key, IsOk());
    if (!key.ok()) return nullptr;
    auto signer = token_->NewSigner(*key);
    EXPECT_THAT(signer, IsOk());
    return signer.ok() ? std::move(*signer) : nullptr;
  }

  std::unique_ptr<SoftHsmToken> hsm_;
  std::unique_ptr<Token> token_;
};

struct SchemeCase {
  KeyType type;
  SignatureAlgorithm algorithm;
};

class SchemeTest : public TokenSignerTest,
                   public ::testing::WithParamInterface<SchemeCase> {};

TEST_P(SchemeTest, SignatureVerifiesWithThePublicKey) {
  std::unique_ptr<Signer> signer = MakeSigner(GetParam().type);
  ASSERT_NE(signer, nullptr);
  const SignatureAlgorithm& alg = GetParam().algorithm;
  std::vector<uint8_t> input =
      alg.scheme == SignatureScheme::kEd25519
          ? std::vector<uint8_t>{'h', 'e', 'l', 'l', 'o'}
          : Digest(alg.hash, "hello");
  ASSERT_OK_AND_ASSIGN(std::vector<uint8_t> sig, signer->Sign(alg, input));
  EXPECT_TRUE(Verifies(signer->PublicKey(), alg, input, sig));
  // A different input must not verify: the check above can fail.
  input[0] ^= 1;
  EXPECT_FALSE(Verifies(signer->PublicKey(), alg, input, sig));
}

INSTANTIATE_TEST_SUITE_P(
    Schemes, SchemeTest,
    ::testing::Values(
        SchemeCase{KeyType::kRsa2048, {SignatureScheme::kRsaPkcs1, HashAlgorithm::kSha256}},
        SchemeCase{KeyType::kRsa2048, {SignatureScheme::kRsaPkcs1, HashAlgorithm::kSha512}},
        SchemeCase{KeyType::kRsa2048, {SignatureScheme::kRsaPss, HashAlgorithm::kSha256,
                                       HashAlgorithm::kSha256, 32}},
        SchemeCase{KeyType::kRsa3072, {SignatureScheme::kRsaPss, HashAlgorithm::kSha384,
                                       HashAlgorithm::kSha384, 48}},
        SchemeCase{KeyType::kEcP256, {SignatureScheme::kEcdsa, HashAlgorithm::kSha256}},
        SchemeCase{KeyType::kEcP384, {SignatureScheme::kEcdsa, HashAlgorithm::kSha384}},
        SchemeCase{KeyType::kEd25519, {SignatureScheme::kEd25519}}));

TEST_F(TokenSignerTest, SixteenThreadsSignConcurrentlyWithoutError) {
  std::unique_ptr<Signer> signer = MakeSigner(KeyType::kEcP256);
  ASSERT_NE(signer, nullptr);
  const SignatureAlgorithm alg{SignatureScheme::kEcdsa, HashAlgorithm::kSha256};
  std::atomic<int> failures{0};
  std::atomic<int> verified{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) {
        std::vector<uint8_t> digest = Digest(HashAlgorithm::kSha256,
                                             std::to_string(t * 1000 + i));
        absl::StatusOr<std::vector<uint8_t>> sig = signer->Sign(alg, digest);
        if (!sig.ok() || !Verifies(signer->PublicKey(), alg, digest, *sig)) {
          ++failures;
        } else {
          ++verified;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(verified.load(), 16000);
}

TEST_F(TokenSignerTest, RecoversAfterAllSessionsAreClosedBehindItsBack) {
  std::unique_ptr<Signer> signer = MakeSigner(KeyType::kEcP256);
  ASSERT_NE(signer, nullptr);
  const SignatureAlgorithm alg{SignatureScheme::kEcdsa, HashAlgorithm::kSha256};
  std::vector<uint8_t> digest = Digest(HashAlgorithm::kSha256, "before");
  ASSERT_THAT(signer->Sign(alg, digest), IsOk());

  // Closes every session of the slot, which also logs the token out.
  ASSERT_THAT(token_->CloseAllSessionsForTesting(), IsOk());

  ASSERT_OK_AND_ASSIGN(std::vector<uint8_t> sig, signer->Sign(alg, digest));
  EXPECT_TRUE(Verifies(signer->PublicKey(), alg, digest, sig));
  // And the token keeps working for other operations.
  EXPECT_THAT(token_->ListKeys(), IsOk());
}

TEST_F(TokenSignerTest, DeletedKeyGivesNotFoundNotACrash) {
  ASSERT_OK_AND_ASSIGN(KeyInfo key, token_->GenerateKey("short-lived", KeyType::kEcP256));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Signer> signer, token_->NewSigner(key));
  const SignatureAlgorithm alg{SignatureScheme::kEcdsa, HashAlgorithm::kSha256};
  std::vector<uint8_t> digest = Digest(HashAlgorithm::kSha256, "x");
  ASSERT_THAT(signer->Sign(alg, digest), IsOk());
  ASSERT_THAT(token_->DeleteKey(key), IsOk());
  EXPECT_THAT(signer->Sign(alg, digest),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no longer on token")));
}

TEST_F(TokenSignerTest, WrongDigestLengthIsRefusedBeforeTheToken) {
  std::unique_ptr<Signer> signer = MakeSigner(KeyType::kRsa2048);
  ASSERT_NE(signer, nullptr);
  std::vector<uint8_t> short_digest(20);
  EXPECT_THAT(signer->Sign({SignatureScheme::kRsaPkcs1, HashAlgorithm::kSha256}, short_digest),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("32 bytes")));
}

TEST_F(TokenSignerTest, SignerOutlivesTheTokenObject) {
  std::unique_ptr<Signer> signer = MakeSigner(KeyType::kEcP256);
  ASSERT_NE(signer, nullptr);
  token_.reset();
  EXPECT_THAT(signer->Sign({SignatureScheme::kEcdsa, HashAlgorithm::kSha256},
                           Digest(HashAlgorithm::kSha256, "late")),
              IsOk());
}

}  // namespace
}  // namespace keyhold
