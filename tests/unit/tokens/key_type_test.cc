#include "tokens/key_type.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/status_matchers.h"

namespace keyhold {
namespace {

using ::keyhold::testing::StatusIs;
using ::testing::HasSubstr;

TEST(KeyTypeTest, NamesRoundTrip) {
  for (KeyType type : AllKeyTypes()) {
    ASSERT_OK_AND_ASSIGN(KeyType parsed, ParseKeyType(KeyTypeName(type)));
    EXPECT_EQ(parsed, type);
  }
}

TEST(KeyTypeTest, UnknownNameListsTheChoices) {
  EXPECT_THAT(ParseKeyType("rsa-1024"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("ec-p256, ec-p384, rsa-2048")));
}

TEST(KeyTypeTest, FamiliesAndSizes) {
  EXPECT_EQ(FamilyOf(KeyType::kRsa3072), KeyFamily::kRsa);
  EXPECT_EQ(RsaBits(KeyType::kRsa3072), 3072);
  EXPECT_EQ(FamilyOf(KeyType::kEcP384), KeyFamily::kEc);
  EXPECT_EQ(EcGroupName(KeyType::kEcP384), "secp384r1");
  EXPECT_EQ(FamilyOf(KeyType::kEd25519), KeyFamily::kEd25519);
  EXPECT_EQ(RsaBits(KeyType::kEd25519), 0);
}

}  // namespace
}  // namespace keyhold
