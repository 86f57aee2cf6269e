// A TLS 1.3 server sends its session tickets in records after the
// handshake. A tunnel closed right after its handshake (a client that
// cancels, a proxied connection that ends at once) would drop them unread,
// and the next connection with the same key to the same target could not
// resume: another full handshake, another token signature.
//
// TicketWait takes over such a closed tunnel's connection: it reads,
// discarding application data, until OpenSSL has processed a ticket (and
// handed it to the context's SessionStore) or `limit` has passed, then sends
// close_notify and closes the socket. The tunnel's owner is told the tunnel
// closed at once; only the socket lingers, on the event loop, not a thread.
#ifndef KEYHOLD_AGENT_TLS_TICKET_WAIT_H_
#define KEYHOLD_AGENT_TLS_TICKET_WAIT_H_

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>

#include "absl/time/time.h"
#include "agent/tls/client_context.h"
#include "agent/tls/event_loop.h"
#include "agent/tls/session_store.h"
#include "agent/tls/unique_fd.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::agent::tls {

// How long a closed TLS 1.3 connection waits for a ticket: one round trip
// to a distant server, and little time for a server that sends none.
inline constexpr absl::Duration kTicketWaitLimit = absl::Milliseconds(250);

class TicketWait final : public EventLoop::FdHandler {
 public:
  // Whether `ssl` (established, not shut down by the peer) may still get a
  // ticket worth waiting for: TLS 1.3 and its session is still
  // `handshake_session`, the one the handshake made.
  static bool Worthwhile(SSL* ssl, const SSL_SESSION* handshake_session);

  // Loop thread only. Takes the connection; `context` stays alive with it
  // (its session store receives the ticket). The socket must not be
  // watched by anyone else.
  static void Start(EventLoop& loop, std::shared_ptr<const ClientContext> context,
                    SslPtr ssl, UniqueFd socket, SslSessionPtr handshake_session,
                    absl::Duration limit = kTicketWaitLimit);

  TicketWait(const TicketWait&) = delete;
  TicketWait& operator=(const TicketWait&) = delete;

  // EventLoop::FdHandler
  void OnFdReady(uint32_t events) override;
  void OnLoopShutdown() override;

 private:
  TicketWait(EventLoop& loop, std::shared_ptr<const ClientContext> context, SslPtr ssl,
             UniqueFd socket, SslSessionPtr handshake_session)
      : loop_(loop),
        context_(std::move(context)),
        ssl_(std::move(ssl)),
        socket_(std::move(socket)),
        handshake_session_(std::move(handshake_session)) {}

  // Reads what has arrived, a bounded number of records per call so the
  // loop's other connections get their turn; true when the wait is over
  // (ticket, close, error).
  bool ReadAvailable();
  // Sends close_notify first (best effort) when asked; closes the socket.
  void End(bool send_close_notify);

  EventLoop& loop_;
  const std::shared_ptr<const ClientContext> context_;
  SslPtr ssl_;
  UniqueFd socket_;
  const SslSessionPtr handshake_session_;
  EventLoop::TimerId timer_ = 0;
  bool watched_ = false;
  bool ended_ = false;
};

}  // namespace keyhold::agent::tls

#endif  // KEYHOLD_AGENT_TLS_TICKET_WAIT_H_
