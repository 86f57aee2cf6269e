#include "agent/tls/ticket_wait.h"

#include <openssl/err.h>
#include <sys/epoll.h>

#include <utility>

#include "agent/tls/tls_error.h"

namespace keyhold::agent::tls {
namespace {

// Records read per wake-up, as the tunnel's own relay does. Records left
// over stay in the socket, not in OpenSSL (read_ahead is off), so epoll
// (level-triggered) wakes us again for them.
constexpr int kMaxReadsPerWake = 16;

}  // namespace

bool TicketWait::Worthwhile(SSL* ssl, const SSL_SESSION* handshake_session) {
  return ssl != nullptr && handshake_session != nullptr &&
         SSL_version(ssl) == TLS1_3_VERSION &&
         (SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN) == 0 &&
         SSL_get0_session(ssl) == handshake_session;
}

void TicketWait::Start(EventLoop& loop, std::shared_ptr<const ClientContext> context,
                       SslPtr ssl, UniqueFd socket, SslSessionPtr handshake_session,
                       absl::Duration limit) {
  // The connection's alert log lives in the Tunnel, which is gone while we
  // read: an alert from the server now must not be written there.
  RecordAlerts(ssl.get(), nullptr);
  std::shared_ptr<TicketWait> wait(new TicketWait(loop, std::move(context), std::move(ssl),
                                                  std::move(socket),
                                                  std::move(handshake_session)));
  // The ticket may be here already.
  if (wait->ReadAvailable()) return;
  wait->watched_ = loop.Watch(wait->socket_.get(), EPOLLIN, wait).ok();
  if (!wait->watched_) {
    wait->End(/*send_close_notify=*/true);
    return;
  }
  wait->timer_ = loop.RunAfter(limit, [wait] { wait->End(/*send_close_notify=*/true); });
}

void TicketWait::OnFdReady(uint32_t /*events*/) { ReadAvailable(); }

void TicketWait::OnLoopShutdown() { End(/*send_close_notify=*/false); }

bool TicketWait::ReadAvailable() {
  if (ended_) return true;
  char discard[16384];
  for (int reads = 0; reads < kMaxReadsPerWake; ++reads) {
    ERR_clear_error();
    size_t read = 0;
    const int result = SSL_read_ex(ssl_.get(), discard, sizeof(discard), &read);
    // Processing a NewSessionTicket replaces the connection's session.
    if (SSL_get0_session(ssl_.get()) != handshake_session_.get()) {
      End(/*send_close_notify=*/true);
      return true;
    }
    if (result == 1) continue;  // application data nobody will read
    const int error = SSL_get_error(ssl_.get(), result);
    if (error == SSL_ERROR_WANT_READ) return false;
    // close_notify, a reset, an alert: no ticket is coming.
    End(/*send_close_notify=*/error == SSL_ERROR_ZERO_RETURN);
    return true;
  }
  return false;  // more to read: level-triggered epoll calls again
}

void TicketWait::End(bool send_close_notify) {
  if (ended_) return;
  ended_ = true;
  loop_.CancelTimer(timer_);
  timer_ = 0;
  if (watched_) loop_.Unwatch(socket_.get());
  watched_ = false;
  if (send_close_notify) {
    // One non-blocking attempt; failure changes nothing.
    ERR_clear_error();
    SSL_shutdown(ssl_.get());
  }
  ERR_clear_error();
  ssl_.reset();
  socket_.reset();
}

}  // namespace keyhold::agent::tls
