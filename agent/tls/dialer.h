// The TCP half of dialing: name resolution and non-blocking connects, with
// failures as statuses that say what went wrong ("cannot resolve host",
// "connection refused").
#ifndef KEYHOLD_AGENT_TLS_DIALER_H_
#define KEYHOLD_AGENT_TLS_DIALER_H_

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/tls/unique_fd.h"

namespace keyhold::agent::tls {

struct SocketAddress {
  sockaddr_storage storage = {};
  socklen_t length = 0;

  // "127.0.0.1:443", "[::1]:443".
  std::string ToString() const;
};

// Every TCP address `host` resolves to, in getaddrinfo's order. Blocks
// (getaddrinfo); IP literals return at once. UNAVAILABLE "cannot resolve
// host: NAME (reason)" when the name does not resolve.
absl::StatusOr<std::vector<SocketAddress>> ResolveTarget(
    const std::string& host, uint16_t port);

// A non-blocking, close-on-exec TCP socket (TCP_NODELAY) whose connect()
// has started; `connected` when it already finished (it may on loopback).
struct ConnectAttempt {
  UniqueFd socket;
  bool connected = false;
};
absl::StatusOr<ConnectAttempt> StartConnect(const SocketAddress& address);

// After the socket of a started connect became writable: OK once
// connected, or why not (SO_ERROR).
absl::Status FinishConnect(int socket, const SocketAddress& address);

// A status for a socket errno, naming `what` was being done:
// ECONNREFUSED "connection refused", ECONNRESET/EPIPE "connection reset by
// peer" (UNAVAILABLE), ETIMEDOUT (DEADLINE_EXCEEDED), others UNAVAILABLE
// with the system's text.
absl::Status SocketFailure(int error, absl::string_view what);

}  // namespace keyhold::agent::tls

#endif  // KEYHOLD_AGENT_TLS_DIALER_H_
