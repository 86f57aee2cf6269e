// A pool of read/write sessions on one slot. A caller leases a session; the
// lease is move-only and gives the session back when destroyed, so two
// concurrent operations never share a session.
//
// Sessions are opened one at a time (some modules, e.g. tpm2-pkcs11, hand
// out the same handle to concurrent C_OpenSession calls). When a session is
// found to be gone (CKR_SESSION_HANDLE_INVALID, CKR_DEVICE_REMOVED, ...) the
// caller calls ForgetAll(): after a removal or C_CloseAllSessions every
// session of the slot is gone. Gone sessions are forgotten, never closed:
// modules reuse handle numbers, and closing a stale number could close a
// session another thread has just opened.
#ifndef KEYHOLD_TOKENS_INTERNAL_SESSION_POOL_H_
#define KEYHOLD_TOKENS_INTERNAL_SESSION_POOL_H_

#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "tokens/internal/cryptoki.h"

namespace keyhold::pkcs11 {

class SessionPool;

class SessionLease {
 public:
  SessionLease(SessionLease&& other) noexcept;
  SessionLease& operator=(SessionLease&& other) noexcept;
  SessionLease(const SessionLease&) = delete;
  SessionLease& operator=(const SessionLease&) = delete;
  ~SessionLease();

  CK_SESSION_HANDLE handle() const { return handle_; }
  uint64_t epoch() const { return epoch_; }
  // The session is in a bad state: close it instead of returning it.
  void Close() { fate_ = Fate::kClose; }

 private:
  friend class SessionPool;
  SessionLease(SessionPool* pool, CK_SESSION_HANDLE handle, uint64_t epoch)
      : pool_(pool), handle_(handle), epoch_(epoch) {}
  void Return();

  enum class Fate { kReturn, kClose };
  SessionPool* pool_;
  CK_SESSION_HANDLE handle_;
  uint64_t epoch_;
  Fate fate_ = Fate::kReturn;
};

class SessionPool {
 public:
  // At most `max_sessions` sessions are open at once; Acquire() waits for a
  // free one beyond that.
  SessionPool(CK_FUNCTION_LIST* ck, CK_SLOT_ID slot, size_t max_sessions);
  ~SessionPool();
  SessionPool(const SessionPool&) = delete;
  SessionPool& operator=(const SessionPool&) = delete;

  absl::StatusOr<SessionLease> Acquire();

  // Every session of the slot is gone: forget the idle ones, and forget
  // leased ones when they come back. `seen_by` is the lease that found the
  // loss; if the pool has moved on since that lease was taken, someone else
  // already recovered and the call does nothing (the idle sessions are new
  // and good).
  void ForgetAll(const SessionLease& seen_by);

  size_t open_sessions() const;

 private:
  friend class SessionLease;
  void Release(CK_SESSION_HANDLE handle, uint64_t epoch, SessionLease::Fate fate);

  CK_FUNCTION_LIST* const ck_;
  const CK_SLOT_ID slot_;
  const size_t max_sessions_;

  mutable absl::Mutex mu_;
  std::vector<CK_SESSION_HANDLE> idle_ ABSL_GUARDED_BY(mu_);
  size_t open_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
  // Serialises C_OpenSession; never held together with mu_.
  absl::Mutex open_mu_;
};

}  // namespace keyhold::pkcs11

#endif  // KEYHOLD_TOKENS_INTERNAL_SESSION_POOL_H_
