// keyhold status: the agent's version and uptime and its token's state.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/cli/commands.h"
#include "client/cli/output.h"

namespace keyhold::cli {

namespace {

// "2d 3h 4m 5s", leading zero units left out.
std::string FormatUptime(uint64_t seconds) {
  const uint64_t days = seconds / 86400;
  const uint64_t hours = seconds / 3600 % 24;
  const uint64_t minutes = seconds / 60 % 60;
  std::string out;
  if (days > 0) absl::StrAppend(&out, days, "d ");
  if (days > 0 || hours > 0) absl::StrAppend(&out, hours, "h ");
  if (days > 0 || hours > 0 || minutes > 0) absl::StrAppend(&out, minutes, "m ");
  absl::StrAppend(&out, seconds % 60, "s");
  return out;
}

absl::Status RunStatus(const CommandContext& context) {
  absl::StatusOr<std::unique_ptr<client::AgentClient>> agent = ConnectToAgent(context);
  if (!agent.ok()) return agent.status();
  absl::StatusOr<v1::StatusResponse> status = (*agent)->Status();
  if (!status.ok()) return status.status();
  const v1::TokenStatus& token = status->token();

  nlohmann::json object = {
      {"socket", (*agent)->socket_path()},
      {"version", status->version()},
      {"uptime_seconds", status->uptime_seconds()},
      {"token",
       {
           {"label", token.label()},
           {"serial", token.serial()},
           {"model", token.model()},
           {"manufacturer", token.manufacturer()},
           {"logged_in", token.logged_in()},
           {"mechanisms", std::vector<std::string>(token.mechanisms().begin(),
                                                   token.mechanisms().end())},
           {"key_count", token.key_count()},
       }},
  };
  std::string text = FormatFields({
      {"agent", (*agent)->socket_path()},
      {"version", status->version()},
      {"uptime", FormatUptime(status->uptime_seconds())},
      {"token label", token.label()},
      {"token serial", token.serial()},
      {"token model", token.model()},
      {"manufacturer", token.manufacturer()},
      {"logged in", token.logged_in() ? "yes" : "no"},
      {"mechanisms", absl::StrJoin(token.mechanisms(), " ")},
      {"keys", absl::StrCat(token.key_count())},
  });
  Emit(context.global, object, text);
  return absl::OkStatus();
}

}  // namespace

void AddStatusCommand(CLI::App& app, CommandContext& context) {
  CLI::App* status = app.add_subcommand(
      "status", "Show the agent's version and uptime and its token's state");
  status->callback([&context] { context.result = RunStatus(context); });
}

}  // namespace keyhold::cli
