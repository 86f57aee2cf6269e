#include "tests/integration/provider/programs.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace keyhold::testing {
namespace {

absl::Status ErrnoError(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// argv and envp, built before fork (the child may only make
// async-signal-safe calls).
struct ExecImage {
  std::vector<std::string> strings;
  std::vector<char*> argv;
  std::vector<char*> envp;
};

std::unique_ptr<ExecImage> MakeImage(const std::vector<std::string>& args,
                                     const Environment& env) {
  auto image = std::make_unique<ExecImage>();
  Environment merged;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const size_t eq = entry.find('=');
    if (eq != std::string::npos) merged[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [name, value] : env) merged[name] = value;
#ifdef KEYHOLD_ASAN_RUNTIME
  // The sanitizer build's module needs the ASan runtime loaded before
  // anything else in programs that are not built with it. Their own leaks
  // (openssl, nginx, Python) are not ours to report.
  merged["LD_PRELOAD"] = KEYHOLD_ASAN_RUNTIME;
  merged["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1:verify_asan_link_order=0";
#endif
  image->strings.reserve(args.size() + merged.size());
  for (const std::string& arg : args) image->strings.push_back(arg);
  for (const auto& [name, value] : merged) {
    image->strings.push_back(absl::StrCat(name, "=", value));
  }
  for (size_t i = 0; i < args.size(); ++i) image->argv.push_back(image->strings[i].data());
  image->argv.push_back(nullptr);
  for (size_t i = args.size(); i < image->strings.size(); ++i) {
    image->envp.push_back(image->strings[i].data());
  }
  image->envp.push_back(nullptr);
  return image;
}

// fork + exec with stdin from `stdin_path` (or /dev/null) and stdout and
// stderr on `output_fd`.
absl::StatusOr<pid_t> Spawn(const ExecImage& image, const ProgramOptions& options,
                            int output_fd) {
  const std::string input = options.stdin_file.empty() ? "/dev/null" : options.stdin_file;
  const int input_fd = ::open(input.c_str(), O_RDONLY | O_CLOEXEC);
  if (input_fd < 0) return ErrnoError(absl::StrCat("open ", input));
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    if (options.uid != static_cast<uid_t>(-1) &&
        (::setgroups(0, nullptr) != 0 || ::setgid(options.uid) != 0 ||
         ::setuid(options.uid) != 0)) {
      ::_exit(125);
    }
    if (::dup2(input_fd, STDIN_FILENO) < 0 || ::dup2(output_fd, STDOUT_FILENO) < 0 ||
        ::dup2(output_fd, STDERR_FILENO) < 0) {
      ::_exit(126);
    }
    ::execve(image.argv[0], image.argv.data(), image.envp.data());
    ::_exit(127);
  }
  ::close(input_fd);
  if (pid < 0) return ErrnoError("fork");
  return pid;
}

int ExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

ProgramOptions Options(Environment env, std::string stdin_file, uid_t uid) {
  ProgramOptions options;
  options.env = std::move(env);
  options.stdin_file = std::move(stdin_file);
  options.uid = uid;
  return options;
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

absl::StatusOr<ProgramResult> Execute(const std::vector<std::string>& args,
                                  const ProgramOptions& options) {
  if (args.empty()) return absl::InvalidArgumentError("Run: no program");
  std::unique_ptr<ExecImage> image = MakeImage(args, options.env);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("pipe2");
  const absl::Time start = absl::Now();
  absl::StatusOr<pid_t> pid = Spawn(*image, options, fds[1]);
  ::close(fds[1]);
  if (!pid.ok()) {
    ::close(fds[0]);
    return pid.status();
  }
  // Read until EOF, killing the program if it outlives its timeout.
  ProgramResult result;
  ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  char buffer[4096];
  bool killed = false;
  for (;;) {
    const ssize_t n = ::read(fds[0], buffer, sizeof(buffer));
    if (n > 0) {
      result.output.append(buffer, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) break;
    if (errno != EAGAIN && errno != EINTR) break;
    if (!killed && absl::Now() - start > options.timeout) {
      ::kill(-*pid, SIGKILL);
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.elapsed = absl::Now() - start;
  result.exit_code = ExitCode(status);
  return result;
}

absl::StatusOr<std::unique_ptr<RunningProgram>> RunningProgram::Start(
    const std::vector<std::string>& args, const std::string& log_path,
    const ProgramOptions& options) {
  if (args.empty()) return absl::InvalidArgumentError("Start: no program");
  std::unique_ptr<ExecImage> image = MakeImage(args, options.env);
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) return ErrnoError(absl::StrCat("open ", log_path));
  absl::StatusOr<pid_t> pid = Spawn(*image, options, log_fd);
  ::close(log_fd);
  if (!pid.ok()) return pid.status();
  return std::unique_ptr<RunningProgram>(new RunningProgram(*pid, log_path));
}

RunningProgram::~RunningProgram() {
  ::kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 1000; ++i) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      ::kill(-pid_, SIGKILL);  // Leftover children (nginx workers), if any.
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(-pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
}

std::string RunningProgram::Log() const { return ReadFileOrEmpty(log_); }

absl::Status RunningProgram::WaitForPort(int port, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      return absl::FailedPreconditionError(
          absl::StrCat("the server exited (", ExitCode(status), "): ", Log()));
    }
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool up =
        ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
    ::close(fd);
    if (up) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("nothing listens on 127.0.0.1:", port, ": ", Log()));
}

absl::StatusOr<int> FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError("socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    return ErrnoError("bind 127.0.0.1:0");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

}  // namespace keyhold::testing
