#include "agent/tls/dialer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cstring>
#include <memory>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace keyhold::agent::tls {
namespace {

struct AddrInfoDeleter {
  void operator()(addrinfo* info) const { freeaddrinfo(info); }
};

std::string ErrnoText(int error) {
  return std::error_code(error, std::generic_category()).message();
}

}  // namespace

std::string SocketAddress::ToString() const {
  char text[INET6_ADDRSTRLEN] = "";
  if (storage.ss_family == AF_INET) {
    sockaddr_in v4;
    std::memcpy(&v4, &storage, sizeof(v4));
    inet_ntop(AF_INET, &v4.sin_addr, text, sizeof(text));
    return absl::StrCat(text, ":", ntohs(v4.sin_port));
  }
  if (storage.ss_family == AF_INET6) {
    sockaddr_in6 v6;
    std::memcpy(&v6, &storage, sizeof(v6));
    inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof(text));
    return absl::StrCat("[", text, "]:", ntohs(v6.sin6_port));
  }
  return "(unknown address family)";
}

absl::StatusOr<std::vector<SocketAddress>> ResolveTarget(
    const std::string& host, uint16_t port) {
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* raw = nullptr;
  const std::string service = std::to_string(port);
  const int result = getaddrinfo(host.c_str(), service.c_str(), &hints, &raw);
  std::unique_ptr<addrinfo, AddrInfoDeleter> list(raw);
  if (result != 0) {
    const std::string reason =
        result == EAI_SYSTEM ? ErrnoText(errno) : gai_strerror(result);
    return absl::UnavailableError(
        absl::StrCat("cannot resolve host: ", host, " (", reason, ")"));
  }
  std::vector<SocketAddress> addresses;
  for (addrinfo* info = list.get(); info != nullptr; info = info->ai_next) {
    if (info->ai_addrlen > sizeof(sockaddr_storage)) continue;
    SocketAddress address;
    std::memcpy(&address.storage, info->ai_addr, info->ai_addrlen);
    address.length = info->ai_addrlen;
    addresses.push_back(address);
  }
  if (addresses.empty()) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve host: ", host, " (no TCP address)"));
  }
  return addresses;
}

absl::StatusOr<ConnectAttempt> StartConnect(const SocketAddress& address) {
  UniqueFd socket(::socket(address.storage.ss_family,
                           SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!socket.valid()) {
    return SocketFailure(errno, "creating a socket");
  }
  const int one = 1;
  // Handshake flights and interactive relays are latency-bound.
  setsockopt(socket.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ConnectAttempt attempt;
  if (::connect(socket.get(),
                reinterpret_cast<const sockaddr*>(&address.storage),
                address.length) == 0) {
    attempt.connected = true;
  } else if (errno != EINPROGRESS) {
    return SocketFailure(errno,
                         absl::StrCat("connecting to ", address.ToString()));
  }
  attempt.socket = std::move(socket);
  return attempt;
}

absl::Status FinishConnect(int socket, const SocketAddress& address) {
  int error = 0;
  socklen_t length = sizeof(error);
  if (getsockopt(socket, SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
    error = errno;
  }
  if (error == 0) return absl::OkStatus();
  return SocketFailure(error,
                       absl::StrCat("connecting to ", address.ToString()));
}

absl::Status SocketFailure(int error, absl::string_view what) {
  switch (error) {
    case ECONNREFUSED:
      return absl::UnavailableError(absl::StrCat(what, ": connection refused"));
    case ECONNRESET:
    case EPIPE:
      return absl::UnavailableError(
          absl::StrCat(what, ": connection reset by peer"));
    case ETIMEDOUT:
      return absl::DeadlineExceededError(
          absl::StrCat(what, ": timed out (TCP)"));
    default:
      return absl::UnavailableError(absl::StrCat(what, ": ", ErrnoText(error)));
  }
}

}  // namespace keyhold::agent::tls
