// The one header through which keyhold code sees PKCS#11 (p11-kit's
// pkcs11.h). Internal to tokens/: nothing outside tokens/ includes it.
//
// CK_RV values become absl::Status here and only here (CkError). The CK_RV
// travels inside the status as a payload so recovery code can tell
// "session gone" from "wrong PIN" without parsing messages.
#ifndef KEYHOLD_TOKENS_INTERNAL_CRYPTOKI_H_
#define KEYHOLD_TOKENS_INTERNAL_CRYPTOKI_H_

#include <p11-kit/pkcs11.h>

#include <optional>

#include "absl/strings/string_view.h"
#include "absl/status/status.h"

namespace keyhold::pkcs11 {

// "CKR_PIN_INCORRECT", or "CKR_0x000000A0" for values we don't name.
std::string CkRvName(CK_RV rv);

// Status for a failed Cryptoki call: "<what>: <CKR_NAME>", code chosen by
// class of failure: device/session trouble -> UNAVAILABLE, PIN/login state
// -> FAILED_PRECONDITION, bad template/mechanism/data -> INVALID_ARGUMENT,
// everything else -> INTERNAL. rv must not be CKR_OK.
absl::Status CkError(CK_RV rv, absl::string_view what);

// The CK_RV carried by a status made by CkError, if any.
std::optional<CK_RV> CkRvOf(const absl::Status& status);

// CK_RVs after which the session (or all sessions) must be reopened.
bool IsSessionLost(CK_RV rv);
// CK_RVs after which a cached object handle must be found again by CKA_ID.
bool IsObjectHandleStale(CK_RV rv);

}  // namespace keyhold::pkcs11

#endif  // KEYHOLD_TOKENS_INTERNAL_CRYPTOKI_H_
