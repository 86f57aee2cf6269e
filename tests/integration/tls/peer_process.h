// Real TLS peers for the TLS integration tests and the handshake bench:
// a child process (openssl s_server, nginx, node, `keyhold proxy`) on
// 127.0.0.1, its stdout and stderr in a log file, stopped by its PID.
// Nothing listens on a fixed port: s_server, node and the proxy bind port
// 0 and print the port; nginx needs a number in its config, so it gets one
// the kernel just handed out (FreeLoopbackPort) and is retried on the rare
// collision.
#ifndef KEYHOLD_TESTS_INTEGRATION_TLS_PEER_PROCESS_H_
#define KEYHOLD_TESTS_INTEGRATION_TLS_PEER_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace keyhold::testing {

inline constexpr char kNginxBinary[] = "/usr/sbin/nginx";
inline constexpr char kNodeBinary[] = "/usr/bin/node";
inline constexpr char kCurlBinary[] = "/usr/bin/curl";

// A port on 127.0.0.1 the kernel just assigned to a socket bound to port 0
// (the socket is closed again, so another process could take it).
absl::StatusOr<uint16_t> FreeLoopbackPort();

// The port in the first complete line of `log` containing `prefix`: the
// word right after it, "PORT" or "ADDRESS:PORT". nullopt when not there.
std::optional<uint16_t> PortAfter(const std::string& log, const std::string& prefix);

// True when a TCP connection to 127.0.0.1:port succeeds.
bool AcceptsConnections(uint16_t port);

class PeerProcess {
 public:
  // Reads the listening port from the log; nullopt while it is not there.
  using PortFromLog = std::function<std::optional<uint16_t>(const std::string& log)>;

  // Starts `argv` (argv[0] an absolute path), stdin from /dev/null, stdout
  // and stderr appended to `log_path`.
  static absl::StatusOr<std::unique_ptr<PeerProcess>> Start(std::vector<std::string> argv,
                                                            std::string log_path);
  ~PeerProcess();  // Stop()
  PeerProcess(const PeerProcess&) = delete;
  PeerProcess& operator=(const PeerProcess&) = delete;

  // Waits until `port_from_log` finds the port (then port() is set) or the
  // process exits or `timeout` passes.
  absl::Status WaitForPortInLog(const PortFromLog& port_from_log,
                                absl::Duration timeout = absl::Seconds(10));
  // Waits until 127.0.0.1:port accepts TCP connections (then port() is it).
  absl::Status WaitUntilAccepting(uint16_t port, absl::Duration timeout = absl::Seconds(10));
  // For a peer whose readiness was established otherwise.
  absl::Status SetPort(uint16_t port) {
    port_ = port;
    return absl::OkStatus();
  }

  // SIGTERM, up to 5 s for it to exit, then SIGKILL. The exit status
  // (128 + signal when killed); an error if it had already been reaped.
  absl::StatusOr<int> Stop();
  bool running();

  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  std::string log() const;

 private:
  PeerProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}

  pid_t pid_;  // -1 once reaped: never signal a PID that may be reused
  const std::string log_path_;
  uint16_t port_ = 0;
};

// `openssl s_server -accept 127.0.0.1:0 args...`; the port from its
// "ACCEPT" line.
absl::StatusOr<std::unique_ptr<PeerProcess>> StartOpensslServer(
    const std::vector<std::string>& args, const std::string& log_path);

struct ServerFiles {
  std::string certificate;  // PEM, the server's
  std::string key;          // PEM, the server's (a file key)
  std::string client_ca;    // ssl_client_certificate
};

// nginx 1.22 in the foreground, prefix `dir` (config, logs, pid and temp
// directories inside it): one TLS server on 127.0.0.1 with
// `ssl_verify_client on` whose every location answers 200 with
// "$ssl_client_s_dn\n". Its access log is dir/access.log.
absl::StatusOr<std::unique_ptr<PeerProcess>> StartNginx(const std::string& dir,
                                                        const ServerFiles& files);

// What the node peer script serves.
enum class NodeMode {
  // https.createServer({requestCert, rejectUnauthorized}): answers every
  // request 200 "hello <client certificate CN>\n", except paths under
  // /inspect: a chunked 200 with header X-Peer: <CN> and the lines
  // "method=", "url=", "x-test=" (that request header) and "body=".
  kHttps,
  // tls.createServer with the same options: echoes every byte back and
  // ends its side when the client ends its.
  kEcho,
};

// node running a script written into `dir`, with the server's
// certificate, key and the CA it requires client certificates from.
absl::StatusOr<std::unique_ptr<PeerProcess>> StartNode(const std::string& dir, NodeMode mode,
                                                       const ServerFiles& files);

// Lines of a text file (0 when it does not exist).
size_t CountLines(const std::string& path);
// CountLines once it has not changed for 200 ms: a peer logs a connection
// a moment after the client is done with it.
size_t SettledLineCount(const std::string& path);

}  // namespace keyhold::testing

#endif  // KEYHOLD_TESTS_INTEGRATION_TLS_PEER_PROCESS_H_
