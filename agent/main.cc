// keyholdd --config FILE: the keyhold agent.
#include <signal.h>
#include <sys/prctl.h>
#include <systemd/sd-daemon.h>

#include <cstring>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/agent.h"
#include "agent/config.h"
#include "agent/log.h"
#include "tokens/openssl_init.h"

#ifndef KEYHOLD_VERSION
#define KEYHOLD_VERSION "unknown"
#endif

namespace keyhold::agent {
namespace {

constexpr char kUsage[] =
    "usage: keyholdd --config FILE [--check-config]\n"
    "       keyholdd --version\n"
    "The PIN comes from the config (pin_file, pin_env or pin_credential), never\n"
    "from the command line. See docs/configuration.md.\n";

int Main(int argc, char** argv) {
  if (!InitOpensslWithoutConfig()) {
    std::cerr << "keyholdd: cannot initialise OpenSSL\n";
    return 1;
  }
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's deadlock
  // detector on: a lock-order graph updated on every lock, 2-3 % of the
  // agent's CPU on the Sign path (gRPC locks absl mutexes too). The tests
  // keep it on; the daemon does not pay for it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::string config_path;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg == "--check-config") {
      check_only = true;
    } else if (arg == "--version") {
      std::cout << "keyholdd " << KEYHOLD_VERSION << "\n";
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    } else {
      std::cerr << "keyholdd: unknown argument " << arg << "\n" << kUsage;
      return 2;
    }
  }
  if (config_path.empty()) {
    std::cerr << kUsage;
    return 2;
  }

  // The PIN lives in this process's memory: no core dumps, no ptrace by
  // other processes of the same user.
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

  // Signals are taken by sigwait below; block them before any thread starts
  // so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<Config> config = LoadConfig(config_path);
  if (!config.ok()) {
    Log(LogLevel::kError, config.status().message());
    return 1;
  }
  if (check_only) {
    std::cout << config_path << ": OK\n";
    return 0;
  }
  if (absl::StatusOr<LogLevel> level = ParseLogLevel(config->log_level); level.ok()) {
    SetLogLevel(*level);
  }

  absl::StatusOr<std::unique_ptr<Agent>> agent = Agent::Create(*std::move(config));
  if (!agent.ok()) {
    Log(LogLevel::kError, agent.status().message());
    sd_notifyf(0, "STATUS=failed: %s", std::string(agent.status().message()).c_str());
    return 1;
  }
  if (absl::Status s = (*agent)->Start(); !s.ok()) {
    Log(LogLevel::kError, s.message());
    return 1;
  }
  Log(LogLevel::kInfo, absl::StrCat("serving on ", (*agent)->listening_on()));
  sd_notifyf(0, "READY=1\nSTATUS=serving on %s", (*agent)->listening_on().c_str());

  int sig = 0;
  sigwait(&signals, &sig);
  Log(LogLevel::kInfo, absl::StrCat("received ", strsignal(sig), ", draining"));
  sd_notify(0, "STOPPING=1");
  (*agent)->Shutdown(absl::Seconds(20));
  agent->reset();
  Log(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace
}  // namespace keyhold::agent

int main(int argc, char** argv) { return keyhold::agent::Main(argc, argv); }
