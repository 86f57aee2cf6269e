#include "tokens/internal/cryptoki.h"

#include <gtest/gtest.h>

namespace keyhold::pkcs11 {
namespace {

TEST(CryptokiTest, NamesKnownAndUnknownReturnValues) {
  EXPECT_EQ(CkRvName(CKR_PIN_INCORRECT), "CKR_PIN_INCORRECT");
  EXPECT_EQ(CkRvName(0x80001234UL), "CKR_0x80001234");
}

TEST(CryptokiTest, ErrorCarriesTheReturnValue) {
  absl::Status s = CkError(CKR_SESSION_HANDLE_INVALID, "C_Sign");
  EXPECT_EQ(s.message(), "C_Sign: CKR_SESSION_HANDLE_INVALID");
  EXPECT_EQ(CkRvOf(s), CKR_SESSION_HANDLE_INVALID);
  EXPECT_EQ(CkRvOf(absl::InternalError("plain")), std::nullopt);
}

TEST(CryptokiTest, MapsClassesOfFailureToCodes) {
  EXPECT_EQ(CkError(CKR_DEVICE_REMOVED, "x").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(CkError(CKR_PIN_INCORRECT, "x").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CkError(CKR_MECHANISM_INVALID, "x").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CkError(CKR_GENERAL_ERROR, "x").code(), absl::StatusCode::kInternal);
}

TEST(CryptokiTest, ClassifiesRecoverableFailures) {
  EXPECT_TRUE(IsSessionLost(CKR_SESSION_HANDLE_INVALID));
  EXPECT_TRUE(IsSessionLost(CKR_SESSION_CLOSED));
  EXPECT_TRUE(IsSessionLost(CKR_DEVICE_REMOVED));
  EXPECT_TRUE(IsSessionLost(CKR_TOKEN_NOT_PRESENT));
  EXPECT_FALSE(IsSessionLost(CKR_PIN_INCORRECT));
  EXPECT_TRUE(IsObjectHandleStale(CKR_OBJECT_HANDLE_INVALID));
  EXPECT_TRUE(IsObjectHandleStale(CKR_KEY_HANDLE_INVALID));
  EXPECT_FALSE(IsObjectHandleStale(CKR_SESSION_CLOSED));
}

}  // namespace
}  // namespace keyhold::pkcs11
