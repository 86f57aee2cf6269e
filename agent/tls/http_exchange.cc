#include "agent/tls/http_exchange.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "agent/tls/http_response_parser.h"
#include "agent/tls/tunnel.h"

namespace keyhold::agent::tls {
namespace {

// The state of one exchange. Touched only on the loop thread once the
// tunnel is open (its callbacks, the deadline timer, the arming task).
class Exchange {
 public:
  Exchange(EventLoop& loop, std::string request, bool head_request,
           size_t max_body, HttpResponseCallback done)
      : loop_(loop),
        request_(std::move(request)),
        parser_(head_request, max_body),
        done_(std::move(done)) {}

  TunnelCallbacks Callbacks(std::shared_ptr<Exchange> self) {
    return TunnelCallbacks{
        .on_established =
            [self](Tunnel& tunnel, const HandshakeFacts& facts) {
              self->facts_ = facts;
              // A single Write into the empty buffer is always accepted.
              if (absl::Status s = tunnel.Write(std::move(self->request_));
                  !s.ok()) {
                self->Complete(s, tunnel);
              }
            },
        .on_data =
            [self](Tunnel& tunnel, absl::string_view bytes) {
              if (self->finished_) return;
              if (absl::Status s = self->parser_.Feed(bytes); !s.ok()) {
                self->Complete(s, tunnel);
              } else if (self->parser_.complete()) {
                self->Complete(absl::OkStatus(), tunnel);
              }
            },
        .on_peer_closed =
            [self](Tunnel& tunnel, absl::Status /*how*/) {
              // A body that runs to the end of the connection is complete
              // even when the server skipped close_notify (as many do, and
              // as curl accepts); framed bodies must be complete by now.
              self->Complete(self->parser_.FinishAtEof(), tunnel);
            },
        .on_writable = nullptr,
        .on_closed =
            [self](Tunnel& tunnel, absl::Status status) {
              if (status.ok()) {
                status = absl::DataLossError(
                    "the connection ended before the HTTP response was "
                    "complete");
              }
              self->Complete(std::move(status), tunnel);
            },
    };
  }

  // Loop thread: adopt the tunnel and arm the overall deadline, unless the
  // exchange already ended (a refused connect can finish before this runs).
  void Arm(std::shared_ptr<Tunnel> tunnel, absl::Duration timeout,
           std::shared_ptr<Exchange> self) {
    if (finished_) return;
    tunnel_ = std::move(tunnel);
    timer_ = loop_.RunAfter(timeout, [self, timeout] {
      self->timer_ = 0;
      if (self->finished_ || self->tunnel_ == nullptr) return;
      self->Complete(absl::DeadlineExceededError(absl::StrCat(
                         "the HTTP exchange with ", self->tunnel_->target(),
                         " timed out after ", absl::FormatDuration(timeout))),
                     *self->tunnel_);
    });
  }

 private:
  // `status` OK: the parser holds the complete response.
  void Complete(absl::Status status, Tunnel& tunnel) {
    if (finished_) return;
    finished_ = true;
    loop_.CancelTimer(timer_);
    tunnel.Close();
    tunnel_.reset();
    HttpResponseCallback done = std::move(done_);
    if (!status.ok()) {
      std::move(done)(std::move(status));
      return;
    }
    HttpResponse response = parser_.TakeResponse();
    response.handshake = std::move(facts_);
    std::move(done)(std::move(response));
  }

  EventLoop& loop_;
  std::string request_;
  HttpResponseParser parser_;
  HttpResponseCallback done_;
  HandshakeFacts facts_;
  std::shared_ptr<Tunnel> tunnel_;
  EventLoop::TimerId timer_ = 0;
  bool finished_ = false;
};

}  // namespace

absl::Status StartHttpExchange(EventLoop& loop, ClientContextCache& contexts,
                               const TlsSettings& settings,
                               const HttpRequestSpec& request,
                               absl::Duration timeout,
                               HttpResponseCallback done) {
  if (timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the exchange timeout must be positive");
  }
  absl::StatusOr<std::string> bytes =
      SerializeHttpRequest(request, settings.server_name(), settings.port);
  if (!bytes.ok()) return bytes.status();
  auto exchange = std::make_shared<Exchange>(
      loop, *std::move(bytes), request.method == "HEAD",
      request.max_response_body, std::move(done));
  TunnelOptions options;
  options.write_buffer_limit = request.body.size() + 4096;
  absl::StatusOr<std::shared_ptr<Tunnel>> tunnel = Tunnel::Open(
      loop, contexts, settings, exchange->Callbacks(exchange), options);
  if (!tunnel.ok()) return tunnel.status();
  // After the tunnel's own start task: the deadline counts from here.
  loop.Post([exchange, tunnel = *std::move(tunnel), timeout]() mutable {
    exchange->Arm(std::move(tunnel), timeout, exchange);
  });
  return absl::OkStatus();
}

absl::StatusOr<HttpResponse> Fetch(EventLoop& loop,
                                   ClientContextCache& contexts,
                                   const TlsSettings& settings,
                                   const HttpRequestSpec& request,
                                   absl::Duration timeout) {
  if (loop.InLoopThread()) {
    return absl::FailedPreconditionError(
        "Fetch called on the TLS event loop thread");
  }
  struct Result {
    absl::Notification done;
    std::optional<absl::StatusOr<HttpResponse>> value;
  };
  auto result = std::make_shared<Result>();
  absl::Status started =
      StartHttpExchange(loop, contexts, settings, request, timeout,
                        [result](absl::StatusOr<HttpResponse> response) {
                          result->value = std::move(response);
                          result->done.Notify();
                        });
  if (!started.ok()) return started;
  result->done.WaitForNotification();
  return *std::move(result->value);
}

}  // namespace keyhold::agent::tls
