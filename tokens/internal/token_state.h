// The shared state behind a Token and its signers: the module, the slot,
// the session pool, the PIN (for logging in again) and the probed
// mechanisms. Run() is where recovery lives.
#ifndef KEYHOLD_TOKENS_INTERNAL_TOKEN_STATE_H_
#define KEYHOLD_TOKENS_INTERNAL_TOKEN_STATE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "tokens/internal/cryptoki.h"
#include "tokens/internal/module.h"
#include "tokens/internal/session_pool.h"
#include "tokens/secret.h"
#include "tokens/token.h"

namespace keyhold::pkcs11 {

// Refuses a login the token says could lock it or cannot succeed:
// CKF_USER_PIN_FINAL_TRY, CKF_USER_PIN_LOCKED, CKF_USER_PIN_TO_BE_CHANGED,
// no user PIN set.
absl::Status CheckLoginAllowed(CK_FLAGS token_flags, absl::string_view label);

Mechanisms ProbeMechanisms(CK_FUNCTION_LIST* ck, CK_SLOT_ID slot);

class TokenState {
 public:
  static absl::StatusOr<std::shared_ptr<TokenState>> Open(
      const TokenConfig& config);

  CK_FUNCTION_LIST* ck() const { return module_->ck(); }
  CK_SLOT_ID slot() const { return slot_; }
  const TokenInfo& info() const { return info_; }
  const CK_TOKEN_INFO& raw_info() const { return raw_info_; }
  const Mechanisms& mechanisms() const { return mechanisms_; }

  // Bumped whenever sessions or the login were lost and recovered. Some
  // modules (SoftHSM2) drop private object handles on logout, so a handle
  // cached under an older epoch must be found again.
  uint64_t handle_epoch() const { return handle_epoch_.load(std::memory_order_acquire); }

  // Runs `op` on a leased session. When it fails with a CK_RV that means
  // the session is gone, the login is gone or an object handle went stale,
  // recovers (new sessions, login again) and runs it once more; a second
  // failure is returned as it is. `op` must be safe to run twice.
  absl::Status Run(absl::FunctionRef<absl::Status(CK_SESSION_HANDLE)> op);

  template <typename T>
  absl::StatusOr<T> Run(
      absl::FunctionRef<absl::StatusOr<T>(CK_SESSION_HANDLE)> op) {
    absl::StatusOr<T> result = absl::InternalError("operation did not run");
    absl::Status status = Run([&](CK_SESSION_HANDLE session) {
      result = op(session);
      return result.status();
    });
    if (!status.ok()) return status;
    return result;
  }

 private:
  TokenState(std::shared_ptr<Module> module, CK_SLOT_ID slot,
             CK_TOKEN_INFO raw_info, Secret pin, std::string pin_source,
             size_t max_sessions);

  absl::Status Login(CK_SESSION_HANDLE session);

  const std::shared_ptr<Module> module_;
  const CK_SLOT_ID slot_;
  const CK_TOKEN_INFO raw_info_;
  const TokenInfo info_;
  const Secret pin_;
  const std::string pin_source_;  // Describe() of where the PIN came from
  Mechanisms mechanisms_;
  SessionPool pool_;
  std::atomic<uint64_t> handle_epoch_{0};
  absl::Mutex login_mu_;  // one login attempt at a time
};

}  // namespace keyhold::pkcs11

#endif  // KEYHOLD_TOKENS_INTERNAL_TOKEN_STATE_H_
