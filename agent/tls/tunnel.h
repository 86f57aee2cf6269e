// One mTLS client connection driven by an EventLoop: non-blocking TCP
// connect (every resolved address in turn, within the connect timeout),
// non-blocking TLS handshake with the client key (handshake timeout), then
// a byte relay in both directions through callbacks, with half-close and
// an idle timeout. Many tunnels share the loop's one thread.
//
// Callbacks run on the loop thread, must not block, and get the tunnel as
// their first argument (so they need not capture a shared_ptr to it). In
// order: on_established at most once, then on_data any number of times,
// on_peer_closed at most once, on_writable whenever a refused Write may be
// retried, and on_closed exactly once, last. Every callback is released
// right after on_closed, breaking any cycle through captured pointers.
//
// Public methods are thread-safe and never block; they post to the loop.
//
// Known limitation: the client key signs the CertificateVerify inside
// SSL_do_handshake on the loop thread. A token that is slow to sign (a
// network HSM, a busy smart card) delays every tunnel on the loop for that
// long. Resumed handshakes sign nothing.
#ifndef KEYHOLD_AGENT_TLS_TUNNEL_H_
#define KEYHOLD_AGENT_TLS_TUNNEL_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "agent/tls/client_context.h"
#include "agent/tls/client_context_cache.h"
#include "agent/tls/dialer.h"
#include "agent/tls/event_loop.h"
#include "agent/tls/handshake_facts.h"
#include "agent/tls/session_store.h"
#include "agent/tls/tls_error.h"
#include "agent/tls/tls_settings.h"
#include "agent/tls/unique_fd.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::agent::tls {

class Tunnel;

// Any callback may be left empty.
struct TunnelCallbacks {
  // The handshake succeeded (and the server certificate verified).
  absl::AnyInvocable<void(Tunnel&, const HandshakeFacts&)> on_established;
  // Bytes from the server, in order. The view is valid during the call.
  absl::AnyInvocable<void(Tunnel&, absl::string_view)> on_data;
  // The server will send nothing more. OK after its close_notify;
  // UNAVAILABLE when TCP ended without one (the data may be truncated).
  // Writing is still possible until CloseWrite or Close.
  absl::AnyInvocable<void(Tunnel&, absl::Status)> on_peer_closed;
  // A Write refused with RESOURCE_EXHAUSTED may be retried: the buffer has
  // drained to half the limit or less.
  absl::AnyInvocable<void(Tunnel&)> on_writable;
  // The end. OK after both sides closed cleanly (or Close()); otherwise why
  // the tunnel failed: connect, handshake, verification, reset, timeout.
  absl::AnyInvocable<void(Tunnel&, absl::Status)> on_closed;
};

struct TunnelOptions {
  // Bytes Write() may hold before it refuses more. A single Write into an
  // empty buffer is always accepted, whatever its size.
  size_t write_buffer_limit = size_t{1} << 20;
};

class Tunnel final : public std::enable_shared_from_this<Tunnel>,
                     private EventLoop::FdHandler {
 public:
  // Validates the settings, gets the client context from `contexts`,
  // resolves the host ON THE CALLING THREAD (getaddrinfo blocks; the loop
  // never does) and starts connecting on the loop. An error here means
  // nothing was started and no callback will run; after OK, every outcome
  // arrives through the callbacks. `loop` must outlive the tunnel's
  // activity (its shutdown closes the tunnel with CANCELLED).
  static absl::StatusOr<std::shared_ptr<Tunnel>> Open(
      EventLoop& loop, ClientContextCache& contexts,
      const TlsSettings& settings, TunnelCallbacks callbacks,
      TunnelOptions options = {});

  ~Tunnel() override;
  Tunnel(const Tunnel&) = delete;
  Tunnel& operator=(const Tunnel&) = delete;

  // Queues `bytes` for the server. Bytes written before the handshake
  // completes wait for it and are dropped if it fails. RESOURCE_EXHAUSTED
  // when the buffer is full (on_writable follows once it drains);
  // FAILED_PRECONDITION after CloseWrite, Close, or the end.
  absl::Status Write(std::string bytes);

  // Half-close: once every queued byte is sent, sends TLS close_notify.
  // Reading continues until the server closes; then on_closed(OK).
  void CloseWrite();

  // Ends the tunnel now: a best-effort close_notify, then the socket is
  // closed; queued bytes are dropped; on_closed(OK) unless it already ran.
  // A TLS 1.3 connection still owed its session ticket hands the socket to
  // a TicketWait first, so the next connection can resume.
  void Close();

  // Flow control towards the server: while paused, no on_data and no reads
  // from the socket (TCP pushes back on the server).
  void PauseReading();
  void ResumeReading();

  // "host:port" as given in the settings.
  const std::string& target() const { return target_; }
  // Bytes accepted by Write and not yet handed to TLS.
  size_t buffered() const;

 private:
  enum class Phase {
    kStarting,
    kConnecting,
    kHandshaking,
    kEstablished,
    kClosed,
  };
  using Clock = std::chrono::steady_clock;

  Tunnel(EventLoop& loop, std::shared_ptr<const ClientContext> context,
         const TlsSettings& settings, std::vector<SocketAddress> addresses,
         TunnelCallbacks callbacks, TunnelOptions options);

  // EventLoop::FdHandler
  void OnFdReady(uint32_t events) override;
  void OnLoopShutdown() override;

  // Everything below runs on the loop thread.
  void Start();
  void ConnectNextAddress();
  void OnConnected();
  void ContinueHandshake();
  void Pump();
  bool PumpWrites();
  bool PumpReads();
  bool SendCloseNotify();
  // `clean`: the server sent close_notify (else TCP just ended).
  void OnPeerClosed(absl::Status status, bool clean);
  void CheckIdle();
  // Epoll interest from the relay state; SetInterest applies a mask (0:
  // registered for shutdown only, no events).
  void UpdateInterest();
  void SetInterest(uint32_t mask);
  void Finish(absl::Status status);
  void Touch() { last_activity_ = Clock::now(); }
  FailureContext failure_context() const;
  std::shared_ptr<EventLoop::FdHandler> AsHandler();
  // Any thread: runs Pump on the loop. The caller set pump_posted_.
  void PostPump();

  EventLoop& loop_;
  const std::shared_ptr<const ClientContext> context_;
  const std::string target_;
  const TlsTimeouts timeouts_;
  const TunnelOptions options_;
  const std::vector<SocketAddress> addresses_;

  // Loop thread only.
  TunnelCallbacks callbacks_;
  Phase phase_ = Phase::kStarting;
  size_t next_address_ = 0;
  const SocketAddress* connected_address_ = nullptr;
  absl::Status last_connect_error_;
  UniqueFd socket_;
  SslPtr ssl_;
  // The session the handshake made: a TLS 1.3 ticket arriving later
  // replaces it (see TicketWait).
  SslSessionPtr handshake_session_;
  AlertLog alerts_;
  EventLoop::TimerId phase_timer_ = 0;
  EventLoop::TimerId idle_timer_ = 0;
  Clock::time_point last_activity_;
  bool watched_ = false;  // Registered with the loop (any interest, even 0).
  std::string sending_;   // Taken from outbound_, being handed to SSL_write.
  size_t sending_offset_ = 0;
  // Non-zero after SSL_write asked to be retried: retry with this length.
  size_t retry_length_ = 0;
  bool write_wants_read_ = false;
  bool write_wants_write_ = false;
  bool read_wants_write_ = false;
  bool close_notify_sent_ = false;
  bool peer_closed_ = false;

  std::atomic<bool> reading_paused_{false};

  mutable absl::Mutex mu_;
  std::string outbound_ ABSL_GUARDED_BY(mu_);
  size_t buffered_ ABSL_GUARDED_BY(mu_) = 0;  // outbound_ + unsent sending_
  bool writable_wanted_ ABSL_GUARDED_BY(mu_) = false;
  bool pump_posted_ ABSL_GUARDED_BY(mu_) = false;
  bool close_write_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;  // Close() or the end.
};

}  // namespace keyhold::agent::tls

#endif  // KEYHOLD_AGENT_TLS_TUNNEL_H_
