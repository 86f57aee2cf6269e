#include "tokens/internal/session_pool.h"

#include <utility>

namespace keyhold::pkcs11 {

SessionLease::SessionLease(SessionLease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      handle_(other.handle_),
      epoch_(other.epoch_),
      fate_(other.fate_) {}

SessionLease& SessionLease::operator=(SessionLease&& other) noexcept {
  if (this != &other) {
    Return();
    pool_ = std::exchange(other.pool_, nullptr);
    handle_ = other.handle_;
    epoch_ = other.epoch_;
    fate_ = other.fate_;
  }
  return *this;
}

SessionLease::~SessionLease() { Return(); }

void SessionLease::Return() {
  if (pool_ != nullptr) pool_->Release(handle_, epoch_, fate_);
  pool_ = nullptr;
}

SessionPool::SessionPool(CK_FUNCTION_LIST* ck, CK_SLOT_ID slot,
                         size_t max_sessions)
    : ck_(ck), slot_(slot), max_sessions_(max_sessions == 0 ? 1 : max_sessions) {}

SessionPool::~SessionPool() {
  absl::MutexLock lock(&mu_);
  for (CK_SESSION_HANDLE h : idle_) ck_->C_CloseSession(h);
  idle_.clear();
}

absl::StatusOr<SessionLease> SessionPool::Acquire() {
  uint64_t epoch;
  {
    absl::MutexLock lock(&mu_);
    auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < max_sessions_;
    };
    mu_.Await(absl::Condition(&available));
    if (!idle_.empty()) {
      CK_SESSION_HANDLE h = idle_.back();
      idle_.pop_back();
      return SessionLease(this, h, epoch_);
    }
    ++open_;  // reserve the slot before opening outside the lock
    epoch = epoch_;
  }
  CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
  CK_RV rv;
  {
    absl::MutexLock open_lock(&open_mu_);
    rv = ck_->C_OpenSession(slot_, CKF_SERIAL_SESSION | CKF_RW_SESSION,
                            nullptr, nullptr, &h);
  }
  if (rv != CKR_OK) {
    absl::MutexLock lock(&mu_);
    --open_;
    return CkError(rv, "C_OpenSession");
  }
  return SessionLease(this, h, epoch);
}

void SessionPool::Release(CK_SESSION_HANDLE handle, uint64_t epoch,
                          SessionLease::Fate fate) {
  absl::MutexLock lock(&mu_);
  if (epoch != epoch_) {
    --open_;  // gone with the rest of its epoch: forget it
  } else if (fate == SessionLease::Fate::kClose) {
    --open_;
    ck_->C_CloseSession(handle);  // its number is still ours until closed
  } else {
    idle_.push_back(handle);
  }
}

void SessionPool::ForgetAll(const SessionLease& seen_by) {
  absl::MutexLock lock(&mu_);
  if (seen_by.epoch() != epoch_) return;
  open_ -= idle_.size();
  idle_.clear();
  ++epoch_;
}

size_t SessionPool::open_sessions() const {
  absl::MutexLock lock(&mu_);
  return open_;
}

}  // namespace keyhold::pkcs11
