// A TLS server in a thread of its own, for what `openssl s_server` cannot
// give a test: many concurrent connections, exact replies, a reset on
// cue, and counters of what arrived. Plain OpenSSL in the default library
// context, non-blocking sockets and poll(); nothing of keyhold's. Requires
// a client certificate issued by `client_ca`. Listens on 127.0.0.1 with
// an OS-chosen port.
#ifndef KEYHOLD_TESTS_UNIT_AGENT_TLS_TEST_TLS_SERVER_H_
#define KEYHOLD_TESTS_UNIT_AGENT_TLS_TEST_TLS_SERVER_H_

#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/tls/unique_fd.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::testing {

class TestTlsServer {
 public:
  enum class Mode {
    // Sends back every byte; answers the client's close_notify with its
    // own once everything is echoed, then closes.
    kEcho,
    // Once a request head ("\r\n\r\n") arrived: sends `response`, then
    // close_notify (unless close_without_notify) and closes.
    kHttp,
    // Completes the handshake, reads, never answers.
    kSilent,
    // Resets the TCP connection (RST) on the first application bytes.
    kReset,
    // Sends no TLS 1.3 session ticket; 100 ms after the first application
    // bytes writes a record that fails authentication straight to the
    // socket (the client answers with an alert), then closes.
    kCorruptRecord,
  };

  struct Options {
    Mode mode = Mode::kEcho;
    X509* certificate = nullptr;
    EVP_PKEY* key = nullptr;
    X509* client_ca = nullptr;
    int min_version = TLS1_2_VERSION;
    int max_version = TLS1_3_VERSION;
    std::string response = "";
    bool close_without_notify = false;
  };

  static absl::StatusOr<std::unique_ptr<TestTlsServer>> Start(Options options);
  ~TestTlsServer();
  TestTlsServer(const TestTlsServer&) = delete;
  TestTlsServer& operator=(const TestTlsServer&) = delete;

  uint16_t port() const { return port_; }
  // Application bytes received over all connections.
  int64_t bytes_received() const { return bytes_received_.load(); }
  int handshakes() const { return handshakes_.load(); }
  int failed_handshakes() const { return failed_handshakes_.load(); }
  // Everything received in kHttp mode, all connections concatenated.
  std::string received() const;

 private:
  struct Connection;

  explicit TestTlsServer(Options options);
  absl::Status Listen();
  void Run();
  void Accept();
  // False when the connection is over.
  bool Service(Connection& connection);

  const Options options_;
  SslCtxPtr ctx_;
  agent::tls::UniqueFd listener_;
  agent::tls::UniqueFd wake_read_;
  agent::tls::UniqueFd wake_write_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::vector<std::unique_ptr<Connection>> connections_;  // Server thread.

  std::atomic<int64_t> bytes_received_{0};
  std::atomic<int> handshakes_{0};
  std::atomic<int> failed_handshakes_{0};
  mutable absl::Mutex mu_;
  std::string received_ ABSL_GUARDED_BY(mu_);
};

// A socket listening on 127.0.0.1 that never accepts: the kernel completes
// TCP connects, nobody ever speaks TLS. Sets `port`.
absl::StatusOr<agent::tls::UniqueFd> ListenWithoutAccepting(uint16_t& port);

}  // namespace keyhold::testing

#endif  // KEYHOLD_TESTS_UNIT_AGENT_TLS_TEST_TLS_SERVER_H_
