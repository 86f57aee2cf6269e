// The final-try guard cannot be driven through SoftHSM2 (it has no PIN
// counter), so the decision is tested on the token flags directly.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/status_matchers.h"
#include "tokens/internal/token_state.h"

namespace keyhold::pkcs11 {
namespace {

using ::keyhold::testing::IsOk;
using ::keyhold::testing::StatusIs;
using ::testing::HasSubstr;

constexpr CK_FLAGS kReady = CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED;

TEST(LoginGuardTest, ReadyTokenMayLogIn) {
  EXPECT_THAT(CheckLoginAllowed(kReady, "t"), IsOk());
  EXPECT_THAT(CheckLoginAllowed(kReady | CKF_USER_PIN_COUNT_LOW, "t"), IsOk());
}

TEST(LoginGuardTest, FinalTryIsRefused) {
  EXPECT_THAT(CheckLoginAllowed(kReady | CKF_USER_PIN_FINAL_TRY, "hsm1"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("final PIN try")));
}

TEST(LoginGuardTest, LockedPinIsRefused) {
  EXPECT_THAT(CheckLoginAllowed(kReady | CKF_USER_PIN_LOCKED, "hsm1"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("locked")));
}

TEST(LoginGuardTest, UninitialisedUserPinIsRefused) {
  EXPECT_THAT(CheckLoginAllowed(CKF_TOKEN_INITIALIZED, "hsm1"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("no user PIN")));
}

}  // namespace
}  // namespace keyhold::pkcs11
