// keyhold: the command-line client of keyholdd (docs/cli.md).
//
// This file owns the process's outcome: each command leaves an absl::Status
// in CommandContext::result, and ExitCodeFor() below is the one mapping
// from a status to an exit code and the one line on stderr.
#include <csignal>
#include <exception>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>  // CLI11's parts are not self-contained headers

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "client/cli/commands.h"
#include "tokens/openssl_init.h"

#ifndef KEYHOLD_VERSION
#define KEYHOLD_VERSION "unknown"
#endif

namespace keyhold::cli {

namespace {

constexpr char kUsagePayloadUrl[] = "type.keyhold.dev/keyhold.cli.UsageError";

// The documented exit codes (docs/cli.md, "Exit status").
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,           // anything not below
  kExitUsage = 2,             // the command line is wrong; nothing was done
  kExitNotFound = 3,          // no such key / no certificate
  kExitPermissionDenied = 4,  // the agent's policy (or the socket's mode) refused
  kExitUnavailable = 5,       // agent not running, socket missing, token trouble, timeout
};

int ExitCodeFor(const absl::Status& status) {
  if (status.ok()) return kExitOk;
  if (IsUsageError(status)) return kExitUsage;
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return kExitPermissionDenied;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnavailable;
    default:
      return kExitFailure;
  }
}

// "keyhold: <reason>" on one line, whatever the reason holds.
void PrintReason(absl::string_view reason) {
  std::string line = absl::StrReplaceAll(reason, {{"\r", " "}, {"\n", " "}});
  std::cerr << "keyhold: " << line << "\n";
}

}  // namespace

absl::Status UsageError(std::string message) {
  absl::Status status = absl::InvalidArgumentError(std::move(message));
  status.SetPayload(kUsagePayloadUrl, absl::Cord("1"));
  return status;
}

bool IsUsageError(const absl::Status& status) {
  return status.GetPayload(kUsagePayloadUrl).has_value();
}

absl::StatusOr<std::unique_ptr<client::AgentClient>> ConnectToAgent(
    const CommandContext& context) {
  absl::StatusOr<std::unique_ptr<client::AgentClient>> agent =
      client::AgentClient::Connect(context.global.socket_path);
  // Connect's INVALID_ARGUMENT means the path itself is unusable (empty,
  // too long for a unix socket): a --socket / KEYHOLD_SOCKET to fix.
  if (absl::IsInvalidArgument(agent.status())) {
    return UsageError(absl::StrCat("--socket: ", agent.status().message()));
  }
  return agent;
}

int Main(int argc, char** argv) {
  CommandContext context;
  CLI::App app("Command-line client of keyholdd, the hardware-backed signing agent.\n"
               "Exit status: 0 ok, 1 failure, 2 usage, 3 not found, 4 permission denied,\n"
               "5 agent unavailable. See docs/cli.md.",
               "keyhold");
  app.set_version_flag("--version", KEYHOLD_VERSION, "Print the version and exit");
  app.add_option("--socket", context.global.socket_path, "The agent's unix socket")
      ->envname("KEYHOLD_SOCKET")
      ->capture_default_str();
  app.add_flag("--json", context.global.json,
               "Print one JSON object (fields in docs/cli.md) instead of text");
  // Global options may also follow the subcommand (`keyhold key list --json`);
  // set before the subcommands are added, which inherit it.
  app.fallthrough();
  app.require_subcommand(1);

  AddStatusCommand(app, context);
  AddKeyCommands(app, context);
  AddCertCommands(app, context);
  AddSignCommand(app, context);
  AddTokenCommands(app, context);
  AddCaCommands(app, context);
  AddTlsCommands(app, context);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    PrintReason(absl::StrCat(e.what(), " (see keyhold --help)"));
    return kExitUsage;
  }
  if (!context.result.ok()) PrintReason(context.result.message());
  return ExitCodeFor(context.result);
}

}  // namespace keyhold::cli

int main(int argc, char** argv) {
  if (!keyhold::InitOpensslWithoutConfig()) {
    std::cerr << "keyhold: cannot initialise OpenSSL\n";
    return 1;
  }
  // A peer that hangs up (a proxied client, a closed pipe on stdout) is an
  // EPIPE to handle where the write happens, not a reason to die.
  signal(SIGPIPE, SIG_IGN);
  try {
    return keyhold::cli::Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "keyhold: internal error: " << e.what() << "\n";
    return 1;
  }
}
