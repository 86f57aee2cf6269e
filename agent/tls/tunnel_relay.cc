// Tunnel, part two: the relay once the handshake is done — writes from
// the bounded buffer, reads to on_data, close_notify in each direction,
// the idle timeout, and the epoll interest they need. Loop thread only.
#include <errno.h>
#include <openssl/err.h>
#include <sys/epoll.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "agent/tls/tunnel.h"

namespace keyhold::agent::tls {
namespace {

// One TLS record's worth of plaintext.
constexpr size_t kRecordSize = 16384;
// Reads per wake-up before other tunnels get their turn.
constexpr int kMaxReadsPerPump = 16;

}  // namespace

void Tunnel::Pump() {
  if (phase_ != Phase::kEstablished) return;
  if (!PumpWrites()) return;
  if (!PumpReads()) return;
  UpdateInterest();
}

bool Tunnel::PumpWrites() {
  write_wants_read_ = false;
  write_wants_write_ = false;
  bool notify_writable = false;
  while (true) {
    if (sending_offset_ == sending_.size()) {
      absl::MutexLock lock(&mu_);
      sending_.clear();
      sending_offset_ = 0;
      if (outbound_.empty()) break;
      sending_.swap(outbound_);
    }
    // A retried SSL_write must repeat the length it was first given.
    const size_t length =
        retry_length_ != 0
            ? retry_length_
            : std::min(sending_.size() - sending_offset_, kRecordSize);
    ERR_clear_error();
    errno = 0;
    size_t written = 0;
    if (SSL_write_ex(ssl_.get(), sending_.data() + sending_offset_, length,
                     &written) == 1) {
      retry_length_ = 0;
      sending_offset_ += written;
      Touch();
      absl::MutexLock lock(&mu_);
      buffered_ -= written;
      if (writable_wanted_ && buffered_ <= options_.write_buffer_limit / 2) {
        writable_wanted_ = false;
        notify_writable = true;
      }
      continue;
    }
    const int saved_errno = errno;
    const int error = SSL_get_error(ssl_.get(), 0);
    if (error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) {
      retry_length_ = length;
      if (error == SSL_ERROR_WANT_WRITE) {
        write_wants_write_ = true;
      } else {
        write_wants_read_ = true;
      }
      break;
    }
    Finish(ConnectionFailure(error, saved_errno, alerts_, failure_context()));
    return false;
  }
  if (notify_writable && callbacks_.on_writable) callbacks_.on_writable(*this);
  if (close_notify_sent_ || sending_offset_ != sending_.size()) return true;
  {
    absl::MutexLock lock(&mu_);
    if (!close_write_requested_ || !outbound_.empty()) return true;
  }
  return SendCloseNotify();
}

bool Tunnel::SendCloseNotify() {
  ERR_clear_error();
  errno = 0;
  const int result = SSL_shutdown(ssl_.get());
  if (result >= 0) {
    close_notify_sent_ = true;
    if (peer_closed_) {
      Finish(absl::OkStatus());
      return false;
    }
    return true;
  }
  const int saved_errno = errno;
  const int error = SSL_get_error(ssl_.get(), result);
  if (error == SSL_ERROR_WANT_WRITE) {
    write_wants_write_ = true;
    return true;
  }
  if (error == SSL_ERROR_WANT_READ) {
    write_wants_read_ = true;
    return true;
  }
  Finish(ConnectionFailure(error, saved_errno, alerts_, failure_context()));
  return false;
}

bool Tunnel::PumpReads() {
  read_wants_write_ = false;
  if (peer_closed_) return true;
  char buffer[kRecordSize];
  for (int i = 0; i < kMaxReadsPerPump; ++i) {
    if (reading_paused_.load()) return true;
    {
      // Close() from a callback: no more on_data, even before it runs.
      absl::MutexLock lock(&mu_);
      if (closed_) return true;
    }
    ERR_clear_error();
    errno = 0;
    size_t read = 0;
    if (SSL_read_ex(ssl_.get(), buffer, sizeof(buffer), &read) == 1) {
      Touch();
      if (callbacks_.on_data) {
        callbacks_.on_data(*this, absl::string_view(buffer, read));
      }
      continue;
    }
    const int saved_errno = errno;
    const int error = SSL_get_error(ssl_.get(), 0);
    if (error == SSL_ERROR_WANT_READ) return true;
    if (error == SSL_ERROR_WANT_WRITE) {
      read_wants_write_ = true;
      return true;
    }
    if (error == SSL_ERROR_ZERO_RETURN) {
      OnPeerClosed(absl::OkStatus(), /*clean=*/true);
      return phase_ != Phase::kClosed;
    }
    if (IsUnexpectedEof(error)) {
      ERR_clear_error();
      OnPeerClosed(absl::UnavailableError(absl::StrCat(
                       "the server closed the TCP connection without a TLS "
                       "close_notify; the data may be truncated (",
                       target_, ")")),
                   /*clean=*/false);
      return phase_ != Phase::kClosed;
    }
    Finish(ConnectionFailure(error, saved_errno, alerts_, failure_context()));
    return false;
  }
  // More may wait inside SSL's buffers, which epoll cannot see.
  {
    absl::MutexLock lock(&mu_);
    if (pump_posted_) return true;
    pump_posted_ = true;
  }
  PostPump();
  return true;
}

void Tunnel::OnPeerClosed(absl::Status status, bool clean) {
  peer_closed_ = true;
  if (callbacks_.on_peer_closed) {
    callbacks_.on_peer_closed(*this, std::move(status));
  }
  if (close_notify_sent_) {
    Finish(absl::OkStatus());
    return;
  }
  if (clean) return;
  // After a TCP end without close_notify OpenSSL refuses to write: the
  // tunnel is over. Losing queued bytes is an error; otherwise the peer
  // closing was the last word, already reported.
  size_t unsent = 0;
  {
    absl::MutexLock lock(&mu_);
    unsent = buffered_;
  }
  Finish(unsent == 0 ? absl::OkStatus()
                     : absl::UnavailableError(absl::StrCat(
                           "the server closed the connection with ", unsent,
                           " bytes not yet sent (", target_, ")")));
}

void Tunnel::CheckIdle() {
  idle_timer_ = 0;
  if (phase_ != Phase::kEstablished) return;
  const Clock::duration limit = absl::ToChronoNanoseconds(timeouts_.idle);
  const Clock::duration idle_for = Clock::now() - last_activity_;
  if (idle_for >= limit) {
    Finish(absl::DeadlineExceededError(
        absl::StrCat("the tunnel to ", target_, " was idle for ",
                     absl::FormatDuration(timeouts_.idle),
                     " (no data in either direction)")));
    return;
  }
  idle_timer_ =
      loop_.RunAfter(absl::FromChrono(limit - idle_for),
                     [self = shared_from_this()] { self->CheckIdle(); });
}

void Tunnel::UpdateInterest() {
  uint32_t mask = 0;
  if ((!peer_closed_ && !reading_paused_.load()) || write_wants_read_) {
    mask |= EPOLLIN;
  }
  if (write_wants_write_ || read_wants_write_) mask |= EPOLLOUT;
  SetInterest(mask);
}

}  // namespace keyhold::agent::tls
