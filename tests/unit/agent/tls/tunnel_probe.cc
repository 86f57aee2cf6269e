#include "tests/unit/agent/tls/tunnel_probe.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace keyhold::testing {

using agent::tls::HandshakeFacts;
using agent::tls::Tunnel;

void TunnelProbe::Record() { threads_.insert(std::this_thread::get_id()); }

agent::tls::TunnelCallbacks TunnelProbe::Callbacks() {
  std::shared_ptr<TunnelProbe> self = shared_from_this();
  return agent::tls::TunnelCallbacks{
      .on_established =
          [self](Tunnel&, const HandshakeFacts& facts) {
            absl::MutexLock lock(&self->mu_);
            self->Record();
            self->facts_ = facts;
          },
      .on_data =
          [self](Tunnel&, absl::string_view bytes) {
            absl::MutexLock lock(&self->mu_);
            self->Record();
            self->data_.append(bytes.data(), bytes.size());
          },
      .on_peer_closed =
          [self](Tunnel&, absl::Status status) {
            absl::MutexLock lock(&self->mu_);
            self->Record();
            self->peer_closed_ = std::move(status);
          },
      .on_writable = nullptr,
      .on_closed =
          [self](Tunnel&, absl::Status status) {
            absl::MutexLock lock(&self->mu_);
            self->Record();
            self->closed_ = std::move(status);
          },
  };
}

absl::StatusOr<std::shared_ptr<Tunnel>> TunnelProbe::Open(
    agent::tls::EventLoop& loop, agent::tls::ClientContextCache& contexts,
    const agent::tls::TlsSettings& settings,
    agent::tls::TunnelOptions options) {
  return Tunnel::Open(loop, contexts, settings, Callbacks(), options);
}

bool TunnelProbe::WaitEstablished(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return facts_.has_value() || closed_.has_value();
  };
  mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  return facts_.has_value();
}

bool TunnelProbe::WaitForBytes(size_t count, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto done = [this, count]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return data_.size() >= count || closed_.has_value();
  };
  mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  return data_.size() >= count;
}

absl::Status TunnelProbe::WaitClosed(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return closed_.has_value();
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&done), timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat("the test waited ", absl::FormatDuration(timeout),
                     " for the tunnel to close"));
  }
  return *closed_;
}

std::optional<HandshakeFacts> TunnelProbe::facts() const {
  absl::MutexLock lock(&mu_);
  return facts_;
}

std::string TunnelProbe::data() const {
  absl::MutexLock lock(&mu_);
  return data_;
}

std::optional<absl::Status> TunnelProbe::peer_closed() const {
  absl::MutexLock lock(&mu_);
  return peer_closed_;
}

bool TunnelProbe::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_.has_value();
}

std::set<std::thread::id> TunnelProbe::callback_threads() const {
  absl::MutexLock lock(&mu_);
  return threads_;
}

}  // namespace keyhold::testing
