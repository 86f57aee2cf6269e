// The provider module's one connection to keyholdd, shared by every key a
// process loads from the same socket.
//
// Contracts:
// - Every call has a deadline (kCallTimeout): an agent that is down, hung or
//   slow gives an error, never a hang.
// - A call that fails in transport drops the connection; the next call dials
//   again, so an application survives an agent restart.
// - After fork(2) the child never touches the parent's connection: a changed
//   getpid() makes the next call dial a connection of its own. The parent's
//   gRPC objects are abandoned in the child, not destroyed, because their
//   socket and threads belong to the parent.
// - Any thread may call; calls run concurrently on one HTTP/2 connection.
#ifndef KEYHOLD_CLIENT_PROVIDER_AGENT_CONNECTION_H_
#define KEYHOLD_CLIENT_PROVIDER_AGENT_CONNECTION_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "keyhold/v1/key_service.grpc.pb.h"
#include "keyhold/v1/keys.pb.h"

namespace keyhold::provider_module {

inline constexpr absl::Duration kCallTimeout = absl::Seconds(5);

class AgentConnection {
 public:
  // The process-wide connection for `socket_path`, made on first use and
  // never destroyed (provider teardown may run from an atexit handler after
  // gRPC's own statics are gone). Never null.
  static AgentConnection* Shared(const std::string& socket_path);

  AgentConnection(const AgentConnection&) = delete;
  AgentConnection& operator=(const AgentConnection&) = delete;

  absl::StatusOr<v1::Key> GetKey(const v1::KeySelector& key);
  // The raw signature (SignResponse.signature).
  absl::StatusOr<std::string> Sign(const v1::SignRequest& request);

  const std::string& socket_path() const { return socket_path_; }

 private:
  explicit AgentConnection(std::string socket_path)
      : socket_path_(std::move(socket_path)) {}

  // The stub to call through, dialling first if there is none or the
  // process forked since the last dial (then sets *fresh).
  absl::StatusOr<std::shared_ptr<v1::KeyService::Stub>> Stub(bool* fresh);
  // Runs one unary RPC with a deadline; redials and retries once if a
  // connection made earlier turned out to be dead.
  absl::Status Call(const char* rpc,
                    absl::FunctionRef<grpc::Status(v1::KeyService::Stub&,
                                                   grpc::ClientContext*)>
                        call);
  // Drops `stub` if it is still the current one (a transport failure).
  void Drop(const std::shared_ptr<v1::KeyService::Stub>& stub);
  // The one place a grpc::Status becomes an absl::Status.
  absl::Status Translate(const grpc::Status& status, const char* rpc) const;

  const std::string socket_path_;
  absl::Mutex mu_;
  pid_t pid_ ABSL_GUARDED_BY(mu_) = -1;
  std::shared_ptr<grpc::Channel> channel_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<v1::KeyService::Stub> stub_ ABSL_GUARDED_BY(mu_);
};

}  // namespace keyhold::provider_module

#endif  // KEYHOLD_CLIENT_PROVIDER_AGENT_CONNECTION_H_
