// A real `openssl s_server` child process on 127.0.0.1 with a port the OS
// picked (-accept 127.0.0.1:0; the port is read from its "ACCEPT" line),
// stopped by PID when destroyed. Its output goes to a log file.
#ifndef KEYHOLD_TESTS_UNIT_AGENT_TLS_OPENSSL_SERVER_H_
#define KEYHOLD_TESTS_UNIT_AGENT_TLS_OPENSSL_SERVER_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace keyhold::testing {

class OpensslServer {
 public:
  // Runs `openssl s_server -accept 127.0.0.1:0 <args...>`, output to
  // `log_path`, and waits (up to 10 s) until it listens.
  static absl::StatusOr<std::unique_ptr<OpensslServer>> Start(
      const std::vector<std::string>& args, const std::string& log_path);
  ~OpensslServer();
  OpensslServer(const OpensslServer&) = delete;
  OpensslServer& operator=(const OpensslServer&) = delete;

  uint16_t port() const { return port_; }
  std::string log() const;

 private:
  OpensslServer(pid_t pid, std::string log_path)
      : pid_(pid), log_path_(std::move(log_path)) {}

  pid_t pid_;  // -1 once reaped.
  const std::string log_path_;
  uint16_t port_ = 0;
};

}  // namespace keyhold::testing

#endif  // KEYHOLD_TESTS_UNIT_AGENT_TLS_OPENSSL_SERVER_H_
