#include "tests/unit/agent/tls/openssl_server.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/testing/openssl_cli.h"

extern char** environ;

namespace keyhold::testing {
namespace {

// "ACCEPT 127.0.0.1:41234" -> 41234, or 0 while not yet printed.
uint16_t PortFromLog(const std::string& log) {
  const size_t line = log.find("ACCEPT ");
  if (line == std::string::npos) return 0;
  const size_t end = log.find('\n', line);
  if (end == std::string::npos) return 0;
  const size_t colon = log.rfind(':', end);
  if (colon == std::string::npos || colon < line) return 0;
  uint32_t port = 0;
  if (!absl::SimpleAtoi(log.substr(colon + 1, end - colon - 1), &port) ||
      port > 65535) {
    return 0;
  }
  return static_cast<uint16_t>(port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<OpensslServer>> OpensslServer::Start(
    const std::vector<std::string>& args, const std::string& log_path) {
  std::vector<std::string> argv_storage = {kOpensslBinary, "s_server",
                                           "-accept", "127.0.0.1:0"};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  const int error = posix_spawn(&pid, kOpensslBinary, &actions, nullptr,
                                argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {
    return absl::InternalError(absl::StrCat("posix_spawn openssl: ", error));
  }
  std::unique_ptr<OpensslServer> server(new OpensslServer(pid, log_path));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    const std::string log = server->log();
    if (uint16_t port = PortFromLog(log); port != 0) {
      server->port_ = port;
      return server;
    }
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      server->pid_ = -1;  // Reaped: never signal a PID that may be reused.
      return absl::InternalError(
          absl::StrCat("openssl s_server exited: ", log));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "openssl s_server did not start listening: ", server->log()));
}

OpensslServer::~OpensslServer() {
  if (pid_ > 0 && kill(pid_, SIGTERM) == 0) {
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

std::string OpensslServer::log() const {
  std::ifstream in(log_path_);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

}  // namespace keyhold::testing
