// Tunnel, part one: opening, the public methods, connecting, the
// handshake, and the end. The relay is in tunnel_relay.cc.
#include "agent/tls/tunnel.h"

#include <errno.h>
#include <openssl/err.h>
#include <sys/epoll.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "agent/tls/ticket_wait.h"
#include "tokens/openssl_error.h"

namespace keyhold::agent::tls {

absl::StatusOr<std::shared_ptr<Tunnel>> Tunnel::Open(
    EventLoop& loop, ClientContextCache& contexts, const TlsSettings& settings,
    TunnelCallbacks callbacks, TunnelOptions options) {
  absl::StatusOr<std::shared_ptr<const ClientContext>> context =
      contexts.Get(settings);
  if (!context.ok()) return context.status();
  absl::StatusOr<std::vector<SocketAddress>> addresses =
      ResolveTarget(settings.host, settings.port);
  if (!addresses.ok()) return addresses.status();
  std::shared_ptr<Tunnel> tunnel(new Tunnel(loop, *std::move(context), settings,
                                            *std::move(addresses),
                                            std::move(callbacks), options));
  if (!loop.Post([tunnel] { tunnel->Start(); })) {
    return absl::FailedPreconditionError("the TLS event loop has stopped");
  }
  return tunnel;
}

Tunnel::Tunnel(EventLoop& loop, std::shared_ptr<const ClientContext> context,
               const TlsSettings& settings,
               std::vector<SocketAddress> addresses, TunnelCallbacks callbacks,
               TunnelOptions options)
    : loop_(loop),
      context_(std::move(context)),
      target_(settings.target()),
      timeouts_(settings.timeouts),
      options_(options),
      addresses_(std::move(addresses)),
      callbacks_(std::move(callbacks)) {}

// The SSL is freed before the socket (member order), and neither touches
// the loop: a tunnel may outlive its loop once closed.
Tunnel::~Tunnel() = default;

// ---- Public, any thread
// ------------------------------------------------------

absl::Status Tunnel::Write(std::string bytes) {
  {
    absl::MutexLock lock(&mu_);
    if (closed_) {
      return absl::FailedPreconditionError(
          absl::StrCat("the tunnel to ", target_, " is closed"));
    }
    if (close_write_requested_) {
      return absl::FailedPreconditionError(
          absl::StrCat("the tunnel to ", target_, " is closed for writing"));
    }
    if (bytes.empty()) return absl::OkStatus();
    if (buffered_ > 0 &&
        buffered_ + bytes.size() > options_.write_buffer_limit) {
      writable_wanted_ = true;
      return absl::ResourceExhaustedError(absl::StrCat(
          "the write buffer is full (", buffered_, " bytes queued, limit ",
          options_.write_buffer_limit, ")"));
    }
    buffered_ += bytes.size();
    if (outbound_.empty()) {
      outbound_ = std::move(bytes);
    } else {
      outbound_.append(bytes);
    }
    if (pump_posted_) return absl::OkStatus();
    pump_posted_ = true;
  }
  PostPump();
  return absl::OkStatus();
}

void Tunnel::CloseWrite() {
  {
    absl::MutexLock lock(&mu_);
    if (closed_ || close_write_requested_) return;
    close_write_requested_ = true;
    if (pump_posted_) return;
    pump_posted_ = true;
  }
  PostPump();
}

void Tunnel::Close() {
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    closed_ = true;
  }
  loop_.Post([self = shared_from_this()] {
    if (self->phase_ == Phase::kClosed) return;
    if (self->phase_ == Phase::kEstablished) {
      // Even after our close_notify (a client that half-closes and then
      // cancels) the server's ticket can still be read.
      if (!self->peer_closed_ &&
          TicketWait::Worthwhile(self->ssl_.get(), self->handshake_session_.get())) {
        if (self->watched_) self->loop_.Unwatch(self->socket_.get());
        self->watched_ = false;
        TicketWait::Start(self->loop_, self->context_, std::move(self->ssl_),
                          std::move(self->socket_), std::move(self->handshake_session_));
      } else if (!self->close_notify_sent_) {
        // Best effort: one non-blocking attempt, failure changes nothing.
        ERR_clear_error();
        SSL_shutdown(self->ssl_.get());
        ERR_clear_error();
      }
    }
    self->Finish(absl::OkStatus());
  });
}

void Tunnel::PauseReading() { reading_paused_.store(true); }

void Tunnel::ResumeReading() {
  reading_paused_.store(false);
  {
    absl::MutexLock lock(&mu_);
    if (closed_ || pump_posted_) return;
    pump_posted_ = true;
  }
  PostPump();
}

size_t Tunnel::buffered() const {
  absl::MutexLock lock(&mu_);
  return buffered_;
}

void Tunnel::PostPump() {
  // Fails only when the loop is shutting down, which closes us anyway.
  loop_.Post([self = shared_from_this()] {
    {
      absl::MutexLock lock(&self->mu_);
      self->pump_posted_ = false;
    }
    self->Pump();
  });
}

// ---- Loop thread: connect
// ----------------------------------------------------

void Tunnel::Start() {
  if (phase_ != Phase::kStarting) return;
  phase_ = Phase::kConnecting;
  phase_timer_ = loop_.RunAfter(timeouts_.connect, [self = shared_from_this()] {
    self->Finish(absl::DeadlineExceededError(
        absl::StrCat("connecting to ", self->target_, " timed out after ",
                     absl::FormatDuration(self->timeouts_.connect))));
  });
  ConnectNextAddress();
}

void Tunnel::ConnectNextAddress() {
  while (next_address_ < addresses_.size()) {
    const SocketAddress& address = addresses_[next_address_++];
    absl::StatusOr<ConnectAttempt> attempt = StartConnect(address);
    if (!attempt.ok()) {
      last_connect_error_ = attempt.status();
      continue;
    }
    socket_ = std::move(attempt->socket);
    connected_address_ = &address;
    if (attempt->connected) {
      OnConnected();
    } else {
      SetInterest(EPOLLOUT);
    }
    return;
  }
  Finish(last_connect_error_.ok()
             ? absl::UnavailableError(
                   absl::StrCat("no address to connect to for ", target_))
             : last_connect_error_);
}

void Tunnel::OnFdReady(uint32_t /*events*/) {
  switch (phase_) {
    case Phase::kConnecting: {
      absl::Status connected =
          FinishConnect(socket_.get(), *connected_address_);
      if (connected.ok()) {
        OnConnected();
        return;
      }
      loop_.Unwatch(socket_.get());
      watched_ = false;
      socket_.reset();
      last_connect_error_ = std::move(connected);
      ConnectNextAddress();
      return;
    }
    case Phase::kHandshaking:
      ContinueHandshake();
      return;
    case Phase::kEstablished:
      Pump();
      return;
    case Phase::kStarting:
    case Phase::kClosed:
      return;
  }
}

void Tunnel::OnLoopShutdown() {
  Finish(absl::CancelledError(absl::StrCat(
      "the TLS event loop is shutting down (tunnel to ", target_, ")")));
}

// ---- Loop thread: handshake
// --------------------------------------------------

void Tunnel::OnConnected() {
  loop_.CancelTimer(phase_timer_);
  phase_ = Phase::kHandshaking;
  phase_timer_ =
      loop_.RunAfter(timeouts_.handshake, [self = shared_from_this()] {
        self->Finish(absl::DeadlineExceededError(
            absl::StrCat("handshake timed out after ",
                         absl::FormatDuration(self->timeouts_.handshake), " (",
                         self->target_, ")")));
      });
  absl::StatusOr<SslPtr> ssl = context_->NewConnection();
  if (!ssl.ok()) {
    Finish(ssl.status());
    return;
  }
  ssl_ = *std::move(ssl);
  if (SSL_set_fd(ssl_.get(), socket_.get()) != 1) {
    Finish(OpenSslError("SSL_set_fd"));
    return;
  }
  RecordAlerts(ssl_.get(), &alerts_);
  ContinueHandshake();
}

void Tunnel::ContinueHandshake() {
  ERR_clear_error();
  errno = 0;
  const int result = SSL_do_handshake(ssl_.get());
  if (result != 1) {
    const int saved_errno = errno;
    const int error = SSL_get_error(ssl_.get(), result);
    if (error == SSL_ERROR_WANT_READ) {
      SetInterest(EPOLLIN);
    } else if (error == SSL_ERROR_WANT_WRITE) {
      SetInterest(EPOLLOUT);
    } else {
      Finish(HandshakeFailure(ssl_.get(), error, saved_errno, alerts_,
                              failure_context()));
    }
    return;
  }
  loop_.CancelTimer(phase_timer_);
  phase_timer_ = 0;
  absl::StatusOr<HandshakeFacts> facts =
      DescribeHandshake(ssl_.get(), connected_address_->ToString());
  if (!facts.ok()) {
    Finish(facts.status());
    return;
  }
  phase_ = Phase::kEstablished;
  handshake_session_.reset(SSL_get1_session(ssl_.get()));
  Touch();
  idle_timer_ = loop_.RunAfter(
      timeouts_.idle, [self = shared_from_this()] { self->CheckIdle(); });
  if (callbacks_.on_established) callbacks_.on_established(*this, *facts);
  Pump();
}

// ---- Loop thread: bookkeeping
// ------------------------------------------------

void Tunnel::SetInterest(uint32_t mask) {
  absl::Status status;
  if (!watched_) {
    status = loop_.Watch(socket_.get(), mask, AsHandler());
    watched_ = status.ok();
  } else {
    status = loop_.Modify(socket_.get(), mask);
  }
  if (!status.ok()) Finish(status);
}

void Tunnel::Finish(absl::Status status) {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  loop_.CancelTimer(phase_timer_);
  loop_.CancelTimer(idle_timer_);
  phase_timer_ = idle_timer_ = 0;
  if (watched_) loop_.Unwatch(socket_.get());
  watched_ = false;
  ssl_.reset();
  handshake_session_.reset();
  socket_.reset();
  sending_.clear();
  sending_offset_ = 0;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    outbound_.clear();
    buffered_ = 0;
  }
  TunnelCallbacks callbacks = std::move(callbacks_);
  callbacks_ = TunnelCallbacks{};
  if (callbacks.on_closed) callbacks.on_closed(*this, std::move(status));
  // `callbacks` and whatever they captured go here; whoever called into
  // the tunnel holds a reference, so it outlives this.
}

FailureContext Tunnel::failure_context() const {
  return FailureContext{.target = target_,
                        .expected_name = context_->expected_name(),
                        .version_range = context_->version_range()};
}

std::shared_ptr<EventLoop::FdHandler> Tunnel::AsHandler() {
  // The aliasing constructor: the private base is reachable only here.
  return std::shared_ptr<EventLoop::FdHandler>(
      shared_from_this(), static_cast<EventLoop::FdHandler*>(this));
}

}  // namespace keyhold::agent::tls
