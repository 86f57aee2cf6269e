// A real keyholdd for one test: a fresh SoftHSM2 token, a config in a temp
// directory (socket and state dir inside it), the daemon started as a child
// process and stopped with SIGTERM. Nothing shared between tests.
#ifndef KEYHOLD_TESTS_INTEGRATION_AGENT_PROCESS_H_
#define KEYHOLD_TESTS_INTEGRATION_AGENT_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include <grpcpp/channel.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/integration/softhsm_token.h"

namespace keyhold::testing {

struct AgentOptions {
  // TOML appended to the generated config (e.g. [[key]] sections).
  std::string extra_config;
  // Replaces the default `admins = [<this uid>]` line when set.
  std::string admins_line;
  // Socket group line, e.g. "socket_group = 65534"; none by default.
  std::string socket_group_line;
  // Make the directory holding the socket reachable by other users (for
  // tests that connect as another uid).
  bool world_traversable_dir = false;
  // Start under systemd-socket-activate, which creates the socket and
  // passes it (LISTEN_FDS), as keyhold.socket does.
  bool socket_activation = false;
  // The PKCS#11 module the agent loads (SoftHSM2 when empty); the token is
  // made with SoftHSM2 either way, so a module that wraps it sees it.
  std::string module;
};

class AgentProcess {
 public:
  // Creates the token and config and starts keyholdd (path from the
  // KEYHOLDD_PATH compile definition); returns once it answers Status.
  static absl::StatusOr<std::unique_ptr<AgentProcess>> Start(AgentOptions options = {});
  ~AgentProcess();  // stops the agent if it still runs

  // SIGTERM, then waits up to `timeout`; the exit status (0 = clean).
  absl::StatusOr<int> Stop(absl::Duration timeout = absl::Seconds(30));
  // Starts keyholdd again with the same token, config and state.
  absl::Status Restart();

  std::shared_ptr<grpc::Channel> Channel() const;
  const std::string& socket_path() const { return socket_; }
  const std::string& config_path() const { return config_; }
  const std::string& state_dir() const { return state_dir_; }
  const std::string& dir() const { return dir_; }
  std::string audit_log_path() const { return state_dir_ + "/audit.log"; }
  std::string ReadAuditLog() const;
  // Everything the agent wrote on stderr so far.
  std::string ReadAgentLog() const;
  SoftHsmToken& token() { return *token_; }
  pid_t pid() const { return pid_; }

 private:
  AgentProcess() = default;
  absl::Status Launch();

  std::unique_ptr<SoftHsmToken> token_;
  std::string dir_;
  std::string socket_;
  std::string config_;
  std::string state_dir_;
  std::string log_;
  bool socket_activation_ = false;
  pid_t pid_ = -1;
};

// The path of the built keyholdd / keyhold binaries.
std::string KeyholddPath();
std::string KeyholdCliPath();

}  // namespace keyhold::testing

#endif  // KEYHOLD_TESTS_INTEGRATION_AGENT_PROCESS_H_
