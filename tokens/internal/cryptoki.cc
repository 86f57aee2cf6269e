#include "tokens/internal/cryptoki.h"

#include <cstdio>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace keyhold::pkcs11 {
namespace {

constexpr absl::string_view kCkRvPayload = "keyhold.dev/ck_rv";

}  // namespace

std::string CkRvName(CK_RV rv) {
  switch (rv) {
#define KEYHOLD_CKR(name) \
  case name:              \
    return #name;
    KEYHOLD_CKR(CKR_OK)
    KEYHOLD_CKR(CKR_CANCEL)
    KEYHOLD_CKR(CKR_HOST_MEMORY)
    KEYHOLD_CKR(CKR_SLOT_ID_INVALID)
    KEYHOLD_CKR(CKR_GENERAL_ERROR)
    KEYHOLD_CKR(CKR_FUNCTION_FAILED)
    KEYHOLD_CKR(CKR_ARGUMENTS_BAD)
    KEYHOLD_CKR(CKR_ATTRIBUTE_SENSITIVE)
    KEYHOLD_CKR(CKR_ATTRIBUTE_TYPE_INVALID)
    KEYHOLD_CKR(CKR_ATTRIBUTE_VALUE_INVALID)
    KEYHOLD_CKR(CKR_ATTRIBUTE_READ_ONLY)
    KEYHOLD_CKR(CKR_DATA_INVALID)
    KEYHOLD_CKR(CKR_DATA_LEN_RANGE)
    KEYHOLD_CKR(CKR_DEVICE_ERROR)
    KEYHOLD_CKR(CKR_DEVICE_MEMORY)
    KEYHOLD_CKR(CKR_DEVICE_REMOVED)
    KEYHOLD_CKR(CKR_FUNCTION_NOT_SUPPORTED)
    KEYHOLD_CKR(CKR_KEY_HANDLE_INVALID)
    KEYHOLD_CKR(CKR_KEY_SIZE_RANGE)
    KEYHOLD_CKR(CKR_KEY_TYPE_INCONSISTENT)
    KEYHOLD_CKR(CKR_KEY_FUNCTION_NOT_PERMITTED)
    KEYHOLD_CKR(CKR_MECHANISM_INVALID)
    KEYHOLD_CKR(CKR_MECHANISM_PARAM_INVALID)
    KEYHOLD_CKR(CKR_OBJECT_HANDLE_INVALID)
    KEYHOLD_CKR(CKR_OPERATION_ACTIVE)
    KEYHOLD_CKR(CKR_OPERATION_NOT_INITIALIZED)
    KEYHOLD_CKR(CKR_PIN_INCORRECT)
    KEYHOLD_CKR(CKR_PIN_INVALID)
    KEYHOLD_CKR(CKR_PIN_LEN_RANGE)
    KEYHOLD_CKR(CKR_PIN_EXPIRED)
    KEYHOLD_CKR(CKR_PIN_LOCKED)
    KEYHOLD_CKR(CKR_SESSION_CLOSED)
    KEYHOLD_CKR(CKR_SESSION_COUNT)
    KEYHOLD_CKR(CKR_SESSION_HANDLE_INVALID)
    KEYHOLD_CKR(CKR_SESSION_READ_ONLY)
    KEYHOLD_CKR(CKR_SESSION_EXISTS)
    KEYHOLD_CKR(CKR_SESSION_READ_ONLY_EXISTS)
    KEYHOLD_CKR(CKR_SESSION_READ_WRITE_SO_EXISTS)
    KEYHOLD_CKR(CKR_SIGNATURE_INVALID)
    KEYHOLD_CKR(CKR_TEMPLATE_INCOMPLETE)
    KEYHOLD_CKR(CKR_TEMPLATE_INCONSISTENT)
    KEYHOLD_CKR(CKR_TOKEN_NOT_PRESENT)
    KEYHOLD_CKR(CKR_TOKEN_NOT_RECOGNIZED)
    KEYHOLD_CKR(CKR_TOKEN_WRITE_PROTECTED)
    KEYHOLD_CKR(CKR_USER_ALREADY_LOGGED_IN)
    KEYHOLD_CKR(CKR_USER_NOT_LOGGED_IN)
    KEYHOLD_CKR(CKR_USER_PIN_NOT_INITIALIZED)
    KEYHOLD_CKR(CKR_USER_TYPE_INVALID)
    KEYHOLD_CKR(CKR_USER_ANOTHER_ALREADY_LOGGED_IN)
    KEYHOLD_CKR(CKR_USER_TOO_MANY_TYPES)
    KEYHOLD_CKR(CKR_DOMAIN_PARAMS_INVALID)
    KEYHOLD_CKR(CKR_CURVE_NOT_SUPPORTED)
    KEYHOLD_CKR(CKR_BUFFER_TOO_SMALL)
    KEYHOLD_CKR(CKR_CRYPTOKI_NOT_INITIALIZED)
    KEYHOLD_CKR(CKR_CRYPTOKI_ALREADY_INITIALIZED)
#undef KEYHOLD_CKR
    default: {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "CKR_0x%08lX", rv);
      return buf;
    }
  }
}

bool IsSessionLost(CK_RV rv) {
  return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
         rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT;
}

bool IsObjectHandleStale(CK_RV rv) {
  return rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_KEY_HANDLE_INVALID;
}

absl::Status CkError(CK_RV rv, absl::string_view what) {
  absl::StatusCode code = absl::StatusCode::kInternal;
  switch (rv) {
    case CKR_DEVICE_ERROR:
    case CKR_DEVICE_MEMORY:
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_TOKEN_NOT_RECOGNIZED:
    case CKR_SESSION_CLOSED:
    case CKR_SESSION_COUNT:
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
      code = absl::StatusCode::kUnavailable;
      break;
    case CKR_PIN_INCORRECT:
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE:
    case CKR_PIN_EXPIRED:
    case CKR_PIN_LOCKED:
    case CKR_USER_PIN_NOT_INITIALIZED:
    case CKR_TOKEN_WRITE_PROTECTED:
    case CKR_KEY_FUNCTION_NOT_PERMITTED:
      code = absl::StatusCode::kFailedPrecondition;
      break;
    case CKR_ARGUMENTS_BAD:
    case CKR_ATTRIBUTE_VALUE_INVALID:
    case CKR_ATTRIBUTE_TYPE_INVALID:
    case CKR_DATA_INVALID:
    case CKR_DATA_LEN_RANGE:
    case CKR_KEY_SIZE_RANGE:
    case CKR_KEY_TYPE_INCONSISTENT:
    case CKR_MECHANISM_INVALID:
    case CKR_MECHANISM_PARAM_INVALID:
    case CKR_TEMPLATE_INCOMPLETE:
    case CKR_TEMPLATE_INCONSISTENT:
    case CKR_DOMAIN_PARAMS_INVALID:
    case CKR_CURVE_NOT_SUPPORTED:
      code = absl::StatusCode::kInvalidArgument;
      break;
    default:
      break;
  }
  absl::Status status(code, absl::StrCat(what, ": ", CkRvName(rv)));
  status.SetPayload(kCkRvPayload, absl::Cord(std::to_string(rv)));
  return status;
}

std::optional<CK_RV> CkRvOf(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kCkRvPayload);
  if (!payload.has_value()) return std::nullopt;
  return static_cast<CK_RV>(std::stoul(std::string(*payload)));
}

}  // namespace keyhold::pkcs11
