// Real programs for the provider tests: run one to completion with extra
// environment variables and optional stdin, or keep one running (a
// server) and stop it by its pid. Also free loopback ports.
#ifndef KEYHOLD_TESTS_INTEGRATION_PROVIDER_PROGRAMS_H_
#define KEYHOLD_TESTS_INTEGRATION_PROVIDER_PROGRAMS_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace keyhold::testing {

using Environment = std::map<std::string, std::string>;

struct ProgramResult {
  int exit_code = -1;  // 128 + signal if killed.
  std::string output;  // stdout and stderr together.
  absl::Duration elapsed;
};

struct ProgramOptions {
  Environment env;          // Added to (or replacing) the inherited ones.
  std::string stdin_file;   // Empty: /dev/null.
  uid_t uid = static_cast<uid_t>(-1);  // Run as this uid (and gid) if set.
  absl::Duration timeout = absl::Seconds(60);  // Then SIGKILL.
};

// Runs argv (argv[0] an absolute path) to completion.
absl::StatusOr<ProgramResult> Execute(const std::vector<std::string>& argv,
                                      const ProgramOptions& options = {});

// Options with these fields set and the rest default.
ProgramOptions Options(Environment env, std::string stdin_file = "",
                       uid_t uid = static_cast<uid_t>(-1));

// A program left running, its output going to a file; stopped (SIGTERM,
// then SIGKILL after 10 s) by pid when destroyed.
class RunningProgram {
 public:
  static absl::StatusOr<std::unique_ptr<RunningProgram>> Start(
      const std::vector<std::string>& argv, const std::string& log_path,
      const ProgramOptions& options = {});
  ~RunningProgram();
  // Waits until 127.0.0.1:port accepts connections (or the program died).
  absl::Status WaitForPort(int port, absl::Duration timeout = absl::Seconds(20));
  std::string Log() const;
  pid_t pid() const { return pid_; }

 private:
  RunningProgram(pid_t pid, std::string log) : pid_(pid), log_(std::move(log)) {}
  pid_t pid_;
  std::string log_;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
absl::StatusOr<int> FreeLoopbackPort();

std::string ReadFileOrEmpty(const std::string& path);

}  // namespace keyhold::testing

#endif  // KEYHOLD_TESTS_INTEGRATION_PROVIDER_PROGRAMS_H_
