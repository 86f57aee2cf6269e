// Maps a gRPC peer ("fd:<n>", as gRPC names connections handed to it with
// AddInsecureChannelFromFd) to the Caller read when it was accepted.
//
// Keyed by fd number. A number is only reused after gRPC destroys the
// connection's transport, which outlives every call on it, so a handler
// that looks its caller up while it runs gets its own connection's
// credentials.
#ifndef KEYHOLD_AGENT_CONNECTION_REGISTRY_H_
#define KEYHOLD_AGENT_CONNECTION_REGISTRY_H_

#include <atomic>
#include <utility>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/caller.h"

namespace keyhold::agent {

class ConnectionRegistry {
 public:
  void Add(int fd, Caller caller);
  // UNAUTHENTICATED if the peer is not a connection the agent accepted.
  absl::StatusOr<Caller> Lookup(const std::string& grpc_peer) const;

  // Counts a call from its start to its end (RAII), so shutdown knows when
  // only idle connections are left.
  class ActiveCall {
   public:
    explicit ActiveCall(const ConnectionRegistry& registry) : registry_(&registry) {
      registry_->active_calls_.fetch_add(1);
    }
    // Moves with the call (a Sign handed to a worker).
    ActiveCall(ActiveCall&& other) noexcept : registry_(std::exchange(other.registry_, nullptr)) {}
    ~ActiveCall() {
      if (registry_ != nullptr) registry_->active_calls_.fetch_sub(1);
    }
    ActiveCall(const ActiveCall&) = delete;
    ActiveCall& operator=(const ActiveCall&) = delete;
    ActiveCall& operator=(ActiveCall&&) = delete;

   private:
    const ConnectionRegistry* registry_;
  };
  int active_calls() const { return active_calls_.load(); }

  // Shuts down (SHUT_RDWR) every client connection still open. Only for
  // the end of a drain: gRPC waits for idle clients to hang up, and some
  // (a process holding a channel it is not using) never do.
  void DisconnectAll();

 private:
  mutable std::atomic<int> active_calls_{0};
  mutable absl::Mutex mu_;
  std::map<int, Caller> callers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_CONNECTION_REGISTRY_H_
