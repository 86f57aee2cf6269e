#include "tests/integration/agent_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "keyhold/v1/agent_service.grpc.pb.h"

extern char** environ;

namespace keyhold::testing {

std::string KeyholddPath() { return KEYHOLDD_PATH; }
std::string KeyholdCliPath() { return KEYHOLD_CLI_PATH; }

absl::StatusOr<std::unique_ptr<AgentProcess>> AgentProcess::Start(AgentOptions options) {
  std::unique_ptr<AgentProcess> agent(new AgentProcess());
  absl::StatusOr<std::unique_ptr<SoftHsmToken>> token = SoftHsmToken::Create("keyhold-agent");
  if (!token.ok()) return token.status();
  agent->token_ = *std::move(token);
  agent->dir_ = agent->token_->dir();
  agent->socket_ = agent->dir_ + "/run/agent.sock";
  agent->state_dir_ = agent->dir_ + "/state";
  agent->config_ = agent->dir_ + "/keyhold.toml";
  agent->log_ = agent->dir_ + "/keyholdd.log";
  agent->socket_activation_ = options.socket_activation;
  std::filesystem::create_directories(agent->dir_ + "/run");
  if (options.world_traversable_dir) {
    chmod(agent->dir_.c_str(), 0711);
    chmod((agent->dir_ + "/run").c_str(), 0711);
  }
  std::ofstream config(agent->config_);
  config << "socket = \"" << agent->socket_ << "\"\n"
         << "state_dir = \"" << agent->state_dir_ << "\"\n"
         << (options.admins_line.empty() ? absl::StrCat("admins = [", getuid(), "]")
                                         : options.admins_line)
         << "\n"
         << options.socket_group_line << "\n"
         << "audit_journald = false\n"
         << "[token]\n"
         << "module = \"" << (options.module.empty() ? kSoftHsmModule : options.module)
         << "\"\n"
         << "uri = \"pkcs11:token=keyhold-agent\"\n"
         << "pin_file = \"" << agent->token_->pin_file() << "\"\n"
         << options.extra_config << "\n";
  config.close();
  if (absl::Status s = agent->Launch(); !s.ok()) return s;
  return agent;
}

absl::Status AgentProcess::Launch() {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> args;
  if (socket_activation_) {
    // It passes no environment unless told: SoftHSM2 needs its config.
    args = {"/usr/bin/systemd-socket-activate", "-l", socket_, "-E", "SOFTHSM2_CONF"};
  }
  args.insert(args.end(), {KeyholddPath(), "--config", config_});
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string binary = args.front();
  int rc = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return absl::InternalError(absl::StrCat("cannot start ", binary));

  // Ready when Status answers; give up after 20 s or if the agent exits.
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::InternalError(absl::StrCat("keyholdd exited early: ", ReadAgentLog()));
    }
    if (access(socket_.c_str(), F_OK) == 0) {
      auto stub = keyhold::v1::AgentService::NewStub(Channel());
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      keyhold::v1::StatusResponse response;
      if (stub->Status(&ctx, {}, &response).ok()) return absl::OkStatus();
    }
    usleep(50 * 1000);
  }
  return absl::DeadlineExceededError(absl::StrCat("keyholdd did not become ready: ", ReadAgentLog()));
}

absl::StatusOr<int> AgentProcess::Stop(absl::Duration timeout) {
  if (pid_ < 0) return absl::FailedPreconditionError("agent not running");
  kill(pid_, SIGTERM);
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    usleep(20 * 1000);
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  return absl::DeadlineExceededError("keyholdd did not stop after SIGTERM");
}

absl::Status AgentProcess::Restart() {
  if (pid_ >= 0) {
    absl::StatusOr<int> stopped = Stop();
    if (!stopped.ok()) return stopped.status();
  }
  return Launch();
}

AgentProcess::~AgentProcess() {
  if (pid_ >= 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::shared_ptr<grpc::Channel> AgentProcess::Channel() const {
  return grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials());
}

std::string AgentProcess::ReadAuditLog() const {
  std::ifstream in(audit_log_path());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string AgentProcess::ReadAgentLog() const {
  std::ifstream in(log_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace keyhold::testing
