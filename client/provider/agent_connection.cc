#include "client/provider/agent_connection.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>
#include <vector>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel_posix.h>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace keyhold::provider_module {
namespace {

// Connects a unix stream socket to `path` within kCallTimeout; the fd
// (close-on-exec) or a status naming the path and the errno text.
absl::StatusOr<int> DialUnixSocket(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("keyhold agent socket path is empty or longer than ",
                     sizeof(address.sun_path) - 1, " bytes: \"", path, "\""));
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("socket(AF_UNIX): ", std::strerror(errno)));
  }
  // connect(2) on a unix socket blocks only while the backlog is full;
  // SO_SNDTIMEO bounds that wait.
  const auto seconds = absl::ToInt64Seconds(kCallTimeout);
  timeval timeout{.tv_sec = seconds, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  int rc;
  do {
    rc = connect(fd, reinterpret_cast<const sockaddr*>(&address),
                 sizeof(address));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("cannot reach the keyhold agent at ", path, ": ",
                     std::strerror(err), " (is keyholdd running?)"));
  }
  timeval none{};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
  return fd;
}

// What gRPC reports when a call's own deadline passes.
constexpr char kGrpcDeadlineMessage[] = "Deadline Exceeded";

std::unique_ptr<grpc::ClientContext> NewContext() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        absl::ToChronoMilliseconds(kCallTimeout));
  return context;
}

// gRPC objects inherited from the parent across fork(2). Kept, never
// destroyed: destroying them would act on the parent's socket and threads.
struct Abandoned {
  absl::Mutex mu;
  std::vector<std::shared_ptr<void>> objects ABSL_GUARDED_BY(mu);
};
Abandoned& AbandonedObjects() {
  static Abandoned* abandoned = new Abandoned;
  return *abandoned;
}

}  // namespace

AgentConnection* AgentConnection::Shared(const std::string& socket_path) {
  struct Registry {
    absl::Mutex mu;
    absl::flat_hash_map<std::string, AgentConnection*> connections
        ABSL_GUARDED_BY(mu);
  };
  static Registry* registry = new Registry;
  absl::MutexLock lock(&registry->mu);
  AgentConnection*& connection = registry->connections[socket_path];
  if (connection == nullptr) connection = new AgentConnection(socket_path);
  return connection;
}

absl::StatusOr<std::shared_ptr<v1::KeyService::Stub>> AgentConnection::Stub(
    bool* fresh) {
  absl::MutexLock lock(&mu_);
  const pid_t pid = getpid();
  if (pid_ != pid && channel_ != nullptr) {
    Abandoned& abandoned = AbandonedObjects();
    absl::MutexLock abandoned_lock(&abandoned.mu);
    abandoned.objects.push_back(std::move(stub_));
    abandoned.objects.push_back(std::move(channel_));
    stub_ = nullptr;
    channel_ = nullptr;
  }
  if (stub_ != nullptr) return stub_;
  absl::StatusOr<int> fd = DialUnixSocket(socket_path_);
  if (!fd.ok()) return fd.status();
  // gRPC owns the fd from here on.
  channel_ = grpc::CreateInsecureChannelFromFd(
      absl::StrCat("unix:", socket_path_), *fd);
  stub_ = v1::KeyService::NewStub(channel_);
  pid_ = pid;
  *fresh = true;
  return stub_;
}

void AgentConnection::Drop(const std::shared_ptr<v1::KeyService::Stub>& stub) {
  absl::MutexLock lock(&mu_);
  if (stub_ != stub || pid_ != getpid()) return;
  stub_ = nullptr;
  channel_ = nullptr;
}

absl::Status AgentConnection::Translate(const grpc::Status& status,
                                        const char* rpc) const {
  // absl::StatusCode and grpc::StatusCode share their numbering.
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  // gRPC's own message when our deadline passed; anything else is the
  // agent's and says more.
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
      (status.error_message().empty() ||
       status.error_message() == kGrpcDeadlineMessage)) {
    return absl::DeadlineExceededError(
        absl::StrCat("the keyhold agent at ", socket_path_, " did not answer ",
                     rpc, " within ", absl::FormatDuration(kCallTimeout)));
  }
  return absl::Status(code, absl::StrCat("keyhold agent at ", socket_path_,
                                         ": ", rpc, ": ",
                                         status.error_message()));
}

absl::StatusOr<v1::Key> AgentConnection::GetKey(const v1::KeySelector& key) {
  v1::GetKeyRequest request;
  *request.mutable_key() = key;
  v1::Key response;
  absl::Status status = Call(
      "GetKey", [&](v1::KeyService::Stub& stub, grpc::ClientContext* context) {
        return stub.GetKey(context, request, &response);
      });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<std::string> AgentConnection::Sign(
    const v1::SignRequest& request) {
  v1::SignResponse response;
  absl::Status status = Call(
      "Sign", [&](v1::KeyService::Stub& stub, grpc::ClientContext* context) {
        return stub.Sign(context, request, &response);
      });
  if (!status.ok()) return status;
  return std::move(*response.mutable_signature());
}

absl::Status AgentConnection::Call(
    const char* rpc,
    absl::FunctionRef<grpc::Status(v1::KeyService::Stub&,
                                   grpc::ClientContext*)> call) {
  // Two attempts at most: a connection made before the agent restarted fails
  // its first call with UNAVAILABLE; the retry runs on a fresh dial. Both
  // RPCs are safe to repeat (a signature over the same digest, a read).
  for (int attempt = 0;; ++attempt) {
    bool fresh = false;
    absl::StatusOr<std::shared_ptr<v1::KeyService::Stub>> stub = Stub(&fresh);
    if (!stub.ok()) return stub.status();
    const grpc::Status status = call(**stub, NewContext().get());
    if (status.ok()) return absl::OkStatus();
    const bool transport =
        status.error_code() == grpc::StatusCode::UNAVAILABLE ||
        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
    if (transport) Drop(*stub);
    if (!transport || fresh || attempt > 0 ||
        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      return Translate(status, rpc);
    }
  }
}

}  // namespace keyhold::provider_module
