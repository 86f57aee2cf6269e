// GoogleTest matchers for absl::Status / absl::StatusOr (Debian's absl has
// none): EXPECT_THAT(s, IsOk()), EXPECT_THAT(s, StatusIs(code, HasSubstr(..))),
// ASSERT_OK_AND_ASSIGN(auto x, MakeX()).
#ifndef KEYHOLD_TESTS_STATUS_MATCHERS_H_
#define KEYHOLD_TESTS_STATUS_MATCHERS_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace keyhold::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = GetStatus(arg);
  if (!s.ok()) *result_listener << "status is " << s.ToString();
  return s.ok();
}

MATCHER_P2(StatusIs, code, message_matcher,
           "has code " + ::testing::PrintToString(code)) {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code &&
         ::testing::Matches(message_matcher)(std::string(s.message()));
}

}  // namespace keyhold::testing

#define KEYHOLD_CONCAT_INNER(a, b) a##b
#define KEYHOLD_CONCAT(a, b) KEYHOLD_CONCAT_INNER(a, b)
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(KEYHOLD_CONCAT(statusor_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr)        \
  auto tmp = (expr);                                     \
  ASSERT_TRUE(tmp.ok()) << tmp.status().ToString();      \
  lhs = std::move(tmp).value()

#endif  // KEYHOLD_TESTS_STATUS_MATCHERS_H_
