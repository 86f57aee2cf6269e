// TlsService.Connect: one gRPC callback-API stream per tunnel. No thread
// waits on a tunnel: gRPC calls the reactor when the client sends, the
// event loop calls the tunnel's callbacks when the server does.
//
// Lifetime: the reactor deletes itself in OnDone; tunnel callbacks may
// still fire after that (on the loop thread), so they reach the reactor
// only through `Link`, which OnDone cuts under its mutex.
#include <deque>

#include "absl/strings/str_cat.h"
#include "agent/tls/tunnel.h"
#include "agent/tls_service.h"

namespace keyhold::agent {

namespace v1 = ::keyhold::v1;

namespace {

// Bytes from the server queued towards the client before the tunnel stops
// reading (TCP then pushes back on the server).
constexpr size_t kMaxQueuedToClient = size_t{1} << 20;
constexpr size_t kMaxDataFrame = 256 * 1024;

class ConnectReactor;

struct Link {
  absl::Mutex mu;
  ConnectReactor* reactor ABSL_GUARDED_BY(mu) = nullptr;
};

class ConnectReactor final
    : public grpc::ServerBidiReactor<v1::ConnectRequest, v1::ConnectResponse> {
 public:
  ConnectReactor(TlsServiceImpl& service, grpc::CallbackServerContext* context)
      : service_(service), context_(context), active_(service.connections()),
        link_(std::make_shared<Link>()) {
    absl::MutexLock lock(&link_->mu);
    link_->reactor = this;
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client half-closed the stream: half-close towards the server
      std::shared_ptr<tls::Tunnel> tunnel = CurrentTunnel();
      if (tunnel) {
        tunnel->CloseWrite();
      } else {
        FinishOnce(absl::InvalidArgumentError("the stream ended before an open message"));
      }
      return;
    }
    if (!opened_) {
      Open();
      return;
    }
    std::shared_ptr<tls::Tunnel> tunnel = CurrentTunnel();
    if (!tunnel) return;
    switch (request_.message_case()) {
      case v1::ConnectRequest::kData: {
        if (request_.data().size() > kMaxDataFrame) {
          tunnel->Close();
          FinishOnce(absl::InvalidArgumentError("data frame larger than 256 KiB"));
          return;
        }
        absl::Status written = tunnel->Write(request_.data());
        while (absl::IsResourceExhausted(written)) {
          // Wait for on_writable before reading more from the client,
          // unless it came already, between the refusal and this lock: then
          // the buffer has drained and the frame goes now.
          {
            absl::MutexLock lock(&mu_);
            if (!writable_seen_) {
              pending_write_ = request_.data();
              return;
            }
            writable_seen_ = false;
          }
          written = tunnel->Write(request_.data());
        }
        if (!written.ok()) return;  // the tunnel is ending; on_closed finishes
        break;
      }
      case v1::ConnectRequest::kCloseWrite:
        tunnel->CloseWrite();
        break;
      default:
        tunnel->Close();
        FinishOnce(absl::InvalidArgumentError("after open, send data or close_write"));
        return;
    }
    StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    std::shared_ptr<tls::Tunnel> resume;
    std::shared_ptr<tls::Tunnel> close;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      queued_bytes_ -= std::min(queued_bytes_, in_flight_bytes_);
      in_flight_bytes_ = 0;
      if (!ok) {  // the client is gone: nothing more will reach it
        queue_.clear();
        queued_bytes_ = 0;
        close = tunnel_;
      } else if (reading_paused_ && queued_bytes_ <= kMaxQueuedToClient / 2) {
        reading_paused_ = false;
        resume = tunnel_;
      }
      WriteNextLocked();
    }
    if (resume) resume->ResumeReading();
    if (close) close->Close();
  }

  void OnCancel() override {
    std::shared_ptr<tls::Tunnel> tunnel = CurrentTunnel();
    if (tunnel) tunnel->Close();
  }

  void OnDone() override {
    {
      absl::MutexLock lock(&link_->mu);
      link_->reactor = nullptr;
    }
    std::shared_ptr<tls::Tunnel> tunnel = CurrentTunnel();
    if (tunnel) tunnel->Close();
    delete this;
  }

 private:
  std::shared_ptr<tls::Tunnel> CurrentTunnel() {
    absl::MutexLock lock(&mu_);
    return tunnel_;
  }

  void Open() {
    opened_ = true;
    if (!request_.has_open()) {
      FinishOnce(absl::InvalidArgumentError("the first message must be open"));
      return;
    }
    absl::StatusOr<Caller> caller = service_.connections().Lookup(context_->peer());
    event_.operation = "TlsService.Connect";
    if (!caller.ok()) {
      Audit(caller.status());
      FinishOnce(caller.status());
      return;
    }
    caller_ = *caller;
    event_.caller = &caller_;
    absl::StatusOr<TlsServiceImpl::Prepared> prepared =
        service_.Prepare(caller_, request_.open(), event_);
    if (!prepared.ok()) {
      Audit(prepared.status());
      FinishOnce(prepared.status());
      return;
    }
    prepared_ = *std::move(prepared);
    std::weak_ptr<Link> weak = link_;
    tls::TunnelCallbacks callbacks;
    callbacks.on_established = [weak](tls::Tunnel&, const tls::HandshakeFacts& facts) {
      With(weak, [&](ConnectReactor& r) { r.OnEstablished(facts); });
    };
    callbacks.on_data = [weak](tls::Tunnel& tunnel, absl::string_view bytes) {
      With(weak, [&](ConnectReactor& r) { r.OnServerData(tunnel, bytes); });
    };
    callbacks.on_peer_closed = [weak](tls::Tunnel&, absl::Status) {
      With(weak, [&](ConnectReactor& r) {
        v1::ConnectResponse message;
        message.set_peer_closed(true);
        r.Send(std::move(message));
      });
    };
    callbacks.on_writable = [weak](tls::Tunnel&) {
      With(weak, [&](ConnectReactor& r) { r.OnTunnelWritable(); });
    };
    callbacks.on_closed = [weak](tls::Tunnel&, absl::Status status) {
      With(weak, [&](ConnectReactor& r) { r.OnTunnelClosed(std::move(status)); });
    };
    absl::StatusOr<std::shared_ptr<tls::Tunnel>> tunnel = tls::Tunnel::Open(
        service_.loop(), service_.contexts(), prepared_.settings, std::move(callbacks));
    if (!tunnel.ok()) {
      Audit(tunnel.status());
      FinishOnce(tunnel.status());
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      tunnel_ = *std::move(tunnel);
    }
    StartRead(&request_);
  }

  template <typename Fn>
  static void With(const std::weak_ptr<Link>& weak, Fn fn) {
    std::shared_ptr<Link> link = weak.lock();
    if (!link) return;
    absl::MutexLock lock(&link->mu);
    if (link->reactor != nullptr) fn(*link->reactor);
  }

  void OnEstablished(const tls::HandshakeFacts& facts) {
    established_ = true;
    absl::StrAppend(&event_.detail, FactsSummary(facts));
    Audit(absl::OkStatus());
    v1::ConnectResponse message;
    FactsToProto(facts, message.mutable_established());
    Send(std::move(message));
  }

  void OnServerData(tls::Tunnel& tunnel, absl::string_view bytes) {
    for (size_t at = 0; at < bytes.size(); at += kMaxDataFrame) {
      v1::ConnectResponse message;
      message.set_data(std::string(bytes.substr(at, kMaxDataFrame)));
      Send(std::move(message));
    }
    absl::MutexLock lock(&mu_);
    if (!reading_paused_ && queued_bytes_ > kMaxQueuedToClient) {
      reading_paused_ = true;
      tunnel.PauseReading();
    }
  }

  void OnTunnelWritable() {
    std::shared_ptr<tls::Tunnel> tunnel;
    std::string pending;
    {
      absl::MutexLock lock(&mu_);
      if (!pending_write_) {
        writable_seen_ = true;  // OnReadDone has not stored its frame yet
        return;
      }
      tunnel = tunnel_;
      pending = *std::move(pending_write_);
      pending_write_.reset();
    }
    absl::Status written = tunnel->Write(std::move(pending));
    if (absl::IsResourceExhausted(written)) return;  // cannot happen: it drained
    StartRead(&request_);
  }

  void OnTunnelClosed(absl::Status status) {
    if (!established_) Audit(status);  // the handshake line, when it failed
    FinishOnce(std::move(status));
  }

  void Audit(const absl::Status& result) {
    event_.result = result;
    service_.audit().Record(event_);
  }

  void Send(v1::ConnectResponse message) {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    queued_bytes_ += message.data().size();
    queue_.push_back(std::move(message));
    WriteNextLocked();
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_) return;
    if (queue_.empty()) {
      if (finish_status_ && !finished_) {
        finished_ = true;
        Finish(*finish_status_);
      }
      return;
    }
    writing_ = true;
    outgoing_ = std::move(queue_.front());
    queue_.pop_front();
    in_flight_bytes_ = outgoing_.data().size();
    StartWrite(&outgoing_);
  }

  // Finishes once every queued reply has been written.
  void FinishOnce(absl::Status status) {
    absl::MutexLock lock(&mu_);
    if (finish_status_) return;
    finish_status_ = grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                                  std::string(status.message()));
    WriteNextLocked();
  }

  TlsServiceImpl& service_;
  grpc::CallbackServerContext* const context_;
  const ConnectionRegistry::ActiveCall active_;  // until OnDone
  const std::shared_ptr<Link> link_;
  v1::ConnectRequest request_;  // reads are sequential: one in flight
  bool opened_ = false;
  bool established_ = false;  // loop thread, under link_->mu
  Caller caller_;
  AuditEvent event_;
  TlsServiceImpl::Prepared prepared_;

  absl::Mutex mu_;
  std::shared_ptr<tls::Tunnel> tunnel_ ABSL_GUARDED_BY(mu_);
  std::optional<std::string> pending_write_ ABSL_GUARDED_BY(mu_);
  // on_writable came while no frame was pending (see OnReadDone).
  bool writable_seen_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<v1::ConnectResponse> queue_ ABSL_GUARDED_BY(mu_);
  v1::ConnectResponse outgoing_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  size_t in_flight_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool reading_paused_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> finish_status_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerBidiReactor<v1::ConnectRequest, v1::ConnectResponse>* TlsServiceImpl::Connect(
    grpc::CallbackServerContext* context) {
  return new ConnectReactor(*this, context);
}

}  // namespace keyhold::agent
