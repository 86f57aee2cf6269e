#include "tokens/secret.h"

#include <gtest/gtest.h>

#include <sstream>


namespace keyhold {
namespace {

TEST(SecretTest, RevealGivesTheValue) {
  Secret s("1234");
  EXPECT_EQ(s.Reveal(), "1234");
  EXPECT_EQ(s.size(), 4u);
}

TEST(SecretTest, StreamingPrintsRedacted) {
  std::ostringstream os;
  os << Secret("hunter2");
  EXPECT_EQ(os.str(), "<redacted>");
}

// absl::StrCat(secret) does not compile with Debian 12's absl (no
// AbslStringify support yet), which is the stronger guarantee.

TEST(SecretTest, MoveLeavesTheSourceEmpty) {
  Secret a("correct horse battery staple");
  Secret b(std::move(a));
  EXPECT_EQ(b.Reveal(), "correct horse battery staple");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the contract
}

}  // namespace
}  // namespace keyhold
