// What the `keyhold` command groups share: the global options, the way a
// command reports its outcome, and the registration function of each group.
//
// A command runs as a CLI11 callback and leaves its absl::Status in
// CommandContext::result; main.cc alone turns that status into stderr text
// and an exit code (docs/cli.md, "Exit status").
#ifndef KEYHOLD_CLIENT_CLI_COMMANDS_H_
#define KEYHOLD_CLIENT_CLI_COMMANDS_H_

#include <memory>
#include <string>

#include <CLI/CLI.hpp>  // CLI11's parts are not self-contained headers

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/agent_client.h"

namespace keyhold::cli {

struct GlobalOptions {
  std::string socket_path = client::kDefaultSocketPath;
  bool json = false;
};

struct CommandContext {
  GlobalOptions global;
  absl::Status result;
};

// A command line the user must fix (exit status 2), as opposed to a request
// the agent refused. INVALID_ARGUMENT with a payload that marks it.
absl::Status UsageError(std::string message);
bool IsUsageError(const absl::Status& status);

// Connects to the agent named by --socket / KEYHOLD_SOCKET.
absl::StatusOr<std::unique_ptr<client::AgentClient>> ConnectToAgent(const CommandContext& context);

// Each adds its subcommands to `app`; their callbacks write context.result.
// `context` must outlive the parse.
void AddStatusCommand(CLI::App& app, CommandContext& context);
void AddKeyCommands(CLI::App& app, CommandContext& context);
void AddCertCommands(CLI::App& app, CommandContext& context);
void AddSignCommand(CLI::App& app, CommandContext& context);
void AddTokenCommands(CLI::App& app, CommandContext& context);
void AddCaCommands(CLI::App& app, CommandContext& context);
void AddTlsCommands(CLI::App& app, CommandContext& context);

}  // namespace keyhold::cli

#endif  // KEYHOLD_CLIENT_CLI_COMMANDS_H_
