#include "tokens/signer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <openssl/evp.h>

#include "tests/status_matchers.h"
#include "tokens/openssl_ptr.h"

namespace keyhold {
namespace {

using ::keyhold::testing::IsOk;
using ::keyhold::testing::StatusIs;
using ::testing::HasSubstr;

TEST(SignerTest, HashNamesAndAliases) {
  ASSERT_OK_AND_ASSIGN(HashAlgorithm h, HashFromName("SHA2-256"));
  EXPECT_EQ(h, HashAlgorithm::kSha256);
  ASSERT_OK_AND_ASSIGN(h, HashFromName("sha384"));
  EXPECT_EQ(h, HashAlgorithm::kSha384);
  EXPECT_EQ(DigestSize(HashAlgorithm::kSha512), 64u);
}

TEST(SignerTest, Sha1IsNotOffered) {
  EXPECT_THAT(HashFromName("SHA1"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not supported")));
}

TEST(SignerTest, DigestLengthMustMatchTheHash) {
  EvpPkeyPtr ec(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  std::vector<uint8_t> digest(20);
  SignatureAlgorithm alg{SignatureScheme::kEcdsa, HashAlgorithm::kSha256};
  EXPECT_THAT(CheckSignInput(ec.get(), alg, digest),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("32 bytes")));
  digest.resize(32);
  EXPECT_THAT(CheckSignInput(ec.get(), alg, digest), IsOk());
}

TEST(SignerTest, SchemeMustFitTheKey) {
  EvpPkeyPtr ec(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  std::vector<uint8_t> digest(32);
  SignatureAlgorithm alg{SignatureScheme::kRsaPss, HashAlgorithm::kSha256};
  EXPECT_THAT(CheckSignInput(ec.get(), alg, digest),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("needs an RSA key")));
}

TEST(SignerTest, PssSaltMustFitTheModulus) {
  EvpPkeyPtr rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
  std::vector<uint8_t> digest(32);
  SignatureAlgorithm alg{SignatureScheme::kRsaPss, HashAlgorithm::kSha256,
                         HashAlgorithm::kSha256, 222};
  EXPECT_THAT(CheckSignInput(rsa.get(), alg, digest), IsOk());
  alg.pss_salt_length = 223;
  EXPECT_THAT(CheckSignInput(rsa.get(), alg, digest),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("salt length")));
}

}  // namespace
}  // namespace keyhold
