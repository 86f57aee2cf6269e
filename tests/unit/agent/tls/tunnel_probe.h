// Records what a Tunnel reports — facts, bytes, the peer's close, the end,
// and which thread each callback ran on — so a test can wait for it.
#ifndef KEYHOLD_TESTS_UNIT_AGENT_TLS_TUNNEL_PROBE_H_
#define KEYHOLD_TESTS_UNIT_AGENT_TLS_TUNNEL_PROBE_H_

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/tls/client_context_cache.h"
#include "agent/tls/event_loop.h"
#include "agent/tls/handshake_facts.h"
#include "agent/tls/tunnel.h"

namespace keyhold::testing {

class TunnelProbe : public std::enable_shared_from_this<TunnelProbe> {
 public:
  static std::shared_ptr<TunnelProbe> Create() {
    return std::shared_ptr<TunnelProbe>(new TunnelProbe());
  }

  // Callbacks that record into this probe (and keep it alive).
  agent::tls::TunnelCallbacks Callbacks();

  // Opens a tunnel reporting to this probe.
  absl::StatusOr<std::shared_ptr<agent::tls::Tunnel>> Open(
      agent::tls::EventLoop& loop, agent::tls::ClientContextCache& contexts,
      const agent::tls::TlsSettings& settings,
      agent::tls::TunnelOptions options = {});

  // Each waits up to `timeout` (plenty by default) and says whether the
  // event happened.
  bool WaitEstablished(absl::Duration timeout = absl::Seconds(10));
  bool WaitForBytes(size_t count, absl::Duration timeout = absl::Seconds(10));
  // The on_closed status, or DEADLINE_EXCEEDED "the test waited ...".
  absl::Status WaitClosed(absl::Duration timeout = absl::Seconds(10));

  std::optional<agent::tls::HandshakeFacts> facts() const;
  std::string data() const;
  std::optional<absl::Status> peer_closed() const;
  bool closed() const;
  // Threads that ran any callback.
  std::set<std::thread::id> callback_threads() const;

 private:
  TunnelProbe() = default;
  void Record() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::optional<agent::tls::HandshakeFacts> facts_ ABSL_GUARDED_BY(mu_);
  std::string data_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> peer_closed_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> closed_ ABSL_GUARDED_BY(mu_);
  std::set<std::thread::id> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace keyhold::testing

#endif  // KEYHOLD_TESTS_UNIT_AGENT_TLS_TUNNEL_PROBE_H_
