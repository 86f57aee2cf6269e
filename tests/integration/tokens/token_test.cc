// Token against a real SoftHSM2 token: opening, login errors, key
// generation with a non-exportable template, listing, deletion and
// certificates.
#include "tokens/token.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_format.h"
#include "tests/integration/softhsm_token.h"
#include "tests/status_matchers.h"

namespace keyhold {
namespace {

using ::keyhold::testing::IsOk;
using ::keyhold::testing::SoftHsmToken;
using ::keyhold::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

class TokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(hsm_, SoftHsmToken::Create());
    ASSERT_OK_AND_ASSIGN(token_, Token::Open(hsm_->config()));
  }

  std::unique_ptr<SoftHsmToken> hsm_;
  std::unique_ptr<Token> token_;
};

TEST_F(TokenTest, OpensByUriAndReportsTokenInfo) {
  EXPECT_EQ(token_->info().label, "keyhold-test");
  EXPECT_EQ(token_->info().manufacturer, "SoftHSM project");
  EXPECT_FALSE(token_->info().serial.empty());
}

TEST_F(TokenTest, ProbesSigningMechanisms) {
  const Mechanisms& m = token_->mechanisms();
  EXPECT_TRUE(m.rsa_pkcs1);
  EXPECT_TRUE(m.rsa_pss);
  EXPECT_TRUE(m.ecdsa);
  EXPECT_TRUE(m.ec_keygen);
  EXPECT_TRUE(m.rsa_keygen);
  EXPECT_THAT(m.Names(), ::testing::Contains("CKM_ECDSA"));
}

TEST_F(TokenTest, OpensBySerialToo) {
  TokenConfig config = hsm_->config();
  config.uri = "pkcs11:serial=" + token_->info().serial;
  ASSERT_OK_AND_ASSIGN(auto again, Token::Open(config));
  EXPECT_EQ(again->info().label, "keyhold-test");
}

TEST_F(TokenTest, UnknownTokenUriIsNotFoundAndNamesWhatExists) {
  TokenConfig config = hsm_->config();
  config.uri = "pkcs11:token=no-such-token";
  EXPECT_THAT(Token::Open(config),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("found: token=keyhold-test")));
}

TEST_F(TokenTest, MalformedUriIsInvalidArgument) {
  TokenConfig config = hsm_->config();
  config.uri = "https://example.com/";
  EXPECT_THAT(Token::Open(config),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not a valid RFC 7512 URI")));
}

TEST_F(TokenTest, PinInUriIsRefused) {
  TokenConfig config = hsm_->config();
  config.uri = "pkcs11:token=keyhold-test?pin-value=1234";
  EXPECT_THAT(Token::Open(config),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pin-value")));
}

TEST_F(TokenTest, WrongPinIsAClearErrorThatNamesTheSourceNotThePin) {
  const std::string wrong = hsm_->dir() + "/wrong.pin";
  std::ofstream(wrong) << "not-the-pin\n";
  TokenConfig config = hsm_->config();
  config.pin = PinSource::File(wrong);
  chmod(wrong.c_str(), 0600);
  absl::StatusOr<std::unique_ptr<Token>> opened = Token::Open(config);
  EXPECT_THAT(opened, StatusIs(absl::StatusCode::kFailedPrecondition,
                               HasSubstr("wrong PIN")));
  EXPECT_THAT(std::string(opened.status().message()), HasSubstr(wrong));
  EXPECT_THAT(std::string(opened.status().message()),
              Not(HasSubstr("not-the-pin")));
}

TEST_F(TokenTest, PinFromEnvironmentVariableWorks) {
  setenv("KEYHOLD_TEST_PIN", keyhold::testing::kTestPin, 1);
  TokenConfig config = hsm_->config();
  config.pin = PinSource::Env("KEYHOLD_TEST_PIN");
  EXPECT_THAT(Token::Open(config), IsOk());
  unsetenv("KEYHOLD_TEST_PIN");
}

class KeyTypeTest : public TokenTest,
                    public ::testing::WithParamInterface<KeyType> {};

TEST_P(KeyTypeTest, GeneratedPrivateKeyIsSensitiveAndNeverExtractable) {
  ASSERT_OK_AND_ASSIGN(KeyInfo key, token_->GenerateKey("k", GetParam()));
  EXPECT_EQ(key.type, GetParam());
  EXPECT_EQ(key.id.size(), 16u);
  ASSERT_OK_AND_ASSIGN(KeyProtection p, token_->Protection(key));
  EXPECT_TRUE(p.sensitive);
  EXPECT_FALSE(p.extractable);
  EXPECT_TRUE(p.never_extractable);
  EXPECT_TRUE(p.always_sensitive);
  EXPECT_FALSE(p.secret_readable);
}

TEST_P(KeyTypeTest, PublicKeyMatchesTheKeyType) {
  ASSERT_OK_AND_ASSIGN(KeyInfo key, token_->GenerateKey("k", GetParam()));
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr pub, token_->PublicKey(key));
  switch (FamilyOf(GetParam())) {
    case KeyFamily::kRsa:
      EXPECT_TRUE(EVP_PKEY_is_a(pub.get(), "RSA"));
      EXPECT_EQ(EVP_PKEY_get_bits(pub.get()), RsaBits(GetParam()));
      break;
    case KeyFamily::kEc: {
      EXPECT_TRUE(EVP_PKEY_is_a(pub.get(), "EC"));
      char group[64];
      size_t len = 0;
      ASSERT_TRUE(EVP_PKEY_get_group_name(pub.get(), group, sizeof(group), &len));
      EXPECT_EQ(std::string(group, len), EcGroupName(GetParam()));
      break;
    }
    case KeyFamily::kEd25519:
      EXPECT_TRUE(EVP_PKEY_is_a(pub.get(), "ED25519"));
      break;
  }
}

// RSA-4096 generation takes seconds on SoftHSM2; the other types cover the
// same code paths, and rsa-4096 has its own test below.
INSTANTIATE_TEST_SUITE_P(AllFastTypes, KeyTypeTest,
                         ::testing::Values(KeyType::kEcP256, KeyType::kEcP384,
                                           KeyType::kRsa2048, KeyType::kRsa3072,
                                           KeyType::kEd25519),
                         [](const auto& param_info) {
                           std::string name(KeyTypeName(param_info.param));
                           std::erase(name, '-');
                           return name;
                         });

TEST_F(TokenTest, GeneratesRsa4096) {
  ASSERT_OK_AND_ASSIGN(KeyInfo key, token_->GenerateKey("big", KeyType::kRsa4096));
  EXPECT_EQ(key.type, KeyType::kRsa4096);
}

TEST_F(TokenTest, DuplicateLabelIsRefused) {
  ASSERT_THAT(token_->GenerateKey("dup", KeyType::kEcP256), IsOk());
  EXPECT_THAT(token_->GenerateKey("dup", KeyType::kRsa2048),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("dup")));
}

TEST_F(TokenTest, BadLabelIsRefused) {
  EXPECT_THAT(token_->GenerateKey("has space", KeyType::kEcP256),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("label")));
  EXPECT_THAT(token_->GenerateKey("", KeyType::kEcP256),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("label")));
}

TEST_F(TokenTest, ListsKeysSortedByLabel) {
  ASSERT_THAT(token_->GenerateKey("zeta", KeyType::kEcP256), IsOk());
  ASSERT_THAT(token_->GenerateKey("alpha", KeyType::kRsa2048), IsOk());
  ASSERT_OK_AND_ASSIGN(std::vector<KeyInfo> keys, token_->ListKeys());
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].label, "alpha");
  EXPECT_EQ(keys[0].type, KeyType::kRsa2048);
  EXPECT_EQ(keys[1].label, "zeta");
}

TEST_F(TokenTest, FindsByLabelAndById) {
  ASSERT_OK_AND_ASSIGN(KeyInfo made, token_->GenerateKey("findme", KeyType::kEcP256));
  ASSERT_OK_AND_ASSIGN(KeyInfo by_label, token_->FindKeyByLabel("findme"));
  EXPECT_EQ(by_label.id, made.id);
  ASSERT_OK_AND_ASSIGN(KeyInfo by_id, token_->FindKeyById(made.id));
  EXPECT_EQ(by_id.label, "findme");
  EXPECT_THAT(token_->FindKeyByLabel("absent"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("absent")));
}

TEST_F(TokenTest, KeyUriNamesTokenIdAndLabel) {
  ASSERT_OK_AND_ASSIGN(KeyInfo key, token_->GenerateKey("uri-key", KeyType::kEcP256));
  EXPECT_THAT(key.uri, HasSubstr("pkcs11:"));
  EXPECT_THAT(key.uri, HasSubstr("token=keyhold-test"));
  EXPECT_THAT(key.uri, HasSubstr("object=uri-key"));
  EXPECT_THAT(key.uri, HasSubstr("type=private"));
  // Every id byte percent-encoded, zero bytes included (the id is random, so
  // it may start with or contain 0x00; the URI must carry all 16 bytes).
  ASSERT_EQ(key.id.size(), 16u);
  std::string encoded_id = "id=";
  for (uint8_t byte : key.id) encoded_id += absl::StrFormat("%%%02X", byte);
  EXPECT_THAT(key.uri, HasSubstr(encoded_id + ";"));
}

TEST_F(TokenTest, DeleteRemovesTheKey) {
  ASSERT_OK_AND_ASSIGN(KeyInfo key, token_->GenerateKey("gone", KeyType::kEcP256));
  ASSERT_THAT(token_->DeleteKey(key), IsOk());
  EXPECT_THAT(token_->FindKeyByLabel("gone"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("gone")));
  EXPECT_THAT(token_->DeleteKey(key), StatusIs(absl::StatusCode::kNotFound, HasSubstr("gone")));
  // The label is free again.
  EXPECT_THAT(token_->GenerateKey("gone", KeyType::kEcP256), IsOk());
}

TEST_F(TokenTest, KeysSurviveReopening) {
  ASSERT_OK_AND_ASSIGN(KeyInfo key, token_->GenerateKey("durable", KeyType::kEcP256));
  token_.reset();
  ASSERT_OK_AND_ASSIGN(token_, Token::Open(hsm_->config()));
  ASSERT_OK_AND_ASSIGN(KeyInfo again, token_->FindKeyByLabel("durable"));
  EXPECT_EQ(again.id, key.id);
}

}  // namespace
}  // namespace keyhold
