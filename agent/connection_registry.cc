#include "agent/connection_registry.h"

#include <sys/socket.h>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace keyhold::agent {

void ConnectionRegistry::DisconnectAll() {
  absl::MutexLock lock(&mu_);
  for (const auto& [fd, caller] : callers_) {
    // Only unix sockets: a number may since have been reused for one of the
    // agent's own descriptors (a TLS tunnel's TCP socket, a token file).
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0 &&
        address.ss_family == AF_UNIX) {
      shutdown(fd, SHUT_RDWR);
    }
  }
}

void ConnectionRegistry::Add(int fd, Caller caller) {
  absl::MutexLock lock(&mu_);
  callers_[fd] = std::move(caller);
}

absl::StatusOr<Caller> ConnectionRegistry::Lookup(const std::string& grpc_peer) const {
  int fd = -1;
  if (!absl::StartsWith(grpc_peer, "fd:") ||
      !absl::SimpleAtoi(absl::string_view(grpc_peer).substr(3), &fd)) {
    return absl::UnauthenticatedError(
        absl::StrCat("unknown connection ", grpc_peer));
  }
  absl::MutexLock lock(&mu_);
  auto it = callers_.find(fd);
  if (it == callers_.end()) {
    return absl::UnauthenticatedError(
        absl::StrCat("no credentials recorded for connection ", grpc_peer));
  }
  return it->second;
}

}  // namespace keyhold::agent
