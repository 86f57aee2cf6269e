#include "agent/policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/status_matchers.h"

namespace keyhold::agent {
namespace {

using ::keyhold::testing::IsOk;
using ::keyhold::testing::StatusIs;
using ::testing::HasSubstr;

Caller User(uid_t uid, std::vector<gid_t> groups = {}) {
  Caller c;
  c.uid = uid;
  c.gid = groups.empty() ? uid : groups.front();
  c.groups = groups;
  return c;
}

KeyInfo Key(const std::string& label, uint8_t id) {
  KeyInfo k;
  k.label = label;
  k.id = {id};
  k.type = KeyType::kEcP256;
  return k;
}

class PolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = std::filesystem::temp_directory_path() / "policy-XXXXXX";
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    dir_ = dir;
    ASSERT_OK_AND_ASSIGN(catalog_, KeyCatalog::Open(dir_));
    config_.admins = {0};
    KeyPolicy signer;
    signer.label = "signer";
    signer.purpose = KeyPurpose::kSign;
    signer.users = {1000};
    signer.groups = {2000};
    KeyPolicy tls;
    tls.label = "tls";
    tls.purpose = KeyPurpose::kTlsClient;
    tls.users = {1000};
    KeyPolicy tls_raw = tls;
    tls_raw.label = "tls-raw";
    tls_raw.allow_raw_sign = true;
    KeyPolicy ca;
    ca.label = "ca";
    ca.purpose = KeyPurpose::kCa;
    ca.users = {1000};
    config_.keys = {signer, tls, tls_raw, ca};
    policy_ = std::make_unique<Policy>(config_, *catalog_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
  Config config_;
  std::unique_ptr<KeyCatalog> catalog_;
  std::unique_ptr<Policy> policy_;
};

TEST_F(PolicyTest, ListedUserMaySign) {
  EXPECT_THAT(policy_->CheckKey(User(1000), Key("signer", 1), KeyOperation::kSign), IsOk());
}

TEST_F(PolicyTest, MemberOfListedGroupMaySign) {
  EXPECT_THAT(policy_->CheckKey(User(1500, {1500, 2000}), Key("signer", 1), KeyOperation::kSign),
              IsOk());
}

TEST_F(PolicyTest, OtherUserIsDenied) {
  EXPECT_THAT(policy_->CheckKey(User(1001), Key("signer", 1), KeyOperation::kRead),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("uid 1001")));
}

TEST_F(PolicyTest, KeysNotInTheConfigAreForAdminsOnly) {
  EXPECT_THAT(policy_->CheckKey(User(1000), Key("other", 9), KeyOperation::kRead),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("admins only")));
  EXPECT_THAT(policy_->CheckKey(User(0), Key("other", 9), KeyOperation::kRead), IsOk());
}

TEST_F(PolicyTest, CaKeyNeverSignsRawEvenForAdmins) {
  EXPECT_THAT(policy_->CheckKey(User(0), Key("ca", 3), KeyOperation::kSign),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("CA key")));
  EXPECT_THAT(policy_->CheckKey(User(1000), Key("ca", 3), KeyOperation::kSign),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("CA key")));
}

TEST_F(PolicyTest, TlsClientKeySignsRawOnlyWithAllowRawSign) {
  EXPECT_THAT(policy_->CheckKey(User(1000), Key("tls", 4), KeyOperation::kSign),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("allow_raw_sign")));
  EXPECT_THAT(policy_->CheckKey(User(1000), Key("tls-raw", 5), KeyOperation::kSign), IsOk());
}

TEST_F(PolicyTest, ManagingKeysIsForAdmins) {
  EXPECT_THAT(policy_->CheckKey(User(1000), Key("signer", 1), KeyOperation::kManage),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("admins")));
  EXPECT_THAT(policy_->CheckKey(User(0), Key("signer", 1), KeyOperation::kManage), IsOk());
}

TEST_F(PolicyTest, PurposeComesFromTheCatalogForUnconfiguredKeys) {
  KeyInfo key = Key("made-by-api", 7);
  EXPECT_THAT(policy_->CheckKey(User(0), key, KeyOperation::kSign),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("no purpose")));
  ASSERT_THAT(catalog_->Record(key.id, key.label, KeyPurpose::kSign), IsOk());
  EXPECT_THAT(policy_->CheckKey(User(0), key, KeyOperation::kSign), IsOk());
}

TEST_F(PolicyTest, CatalogSurvivesReopeningAndForgets) {
  KeyInfo key = Key("made-by-api", 7);
  ASSERT_THAT(catalog_->Record(key.id, key.label, KeyPurpose::kCa), IsOk());
  ASSERT_OK_AND_ASSIGN(auto reopened, KeyCatalog::Open(dir_));
  EXPECT_EQ(reopened->PurposeOf(key.id), KeyPurpose::kCa);
  ASSERT_THAT(reopened->Forget(key.id), IsOk());
  ASSERT_OK_AND_ASSIGN(auto again, KeyCatalog::Open(dir_));
  EXPECT_EQ(again->PurposeOf(key.id), std::nullopt);
}

TEST_F(PolicyTest, DamagedCatalogRefusesToLoad) {
  std::ofstream(dir_ + "/keys.json") << "{ not json";
  EXPECT_THAT(KeyCatalog::Open(dir_), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("damaged")));
}

}  // namespace
}  // namespace keyhold::agent
