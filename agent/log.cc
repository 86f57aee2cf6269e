#include "agent/log.h"

#include <atomic>
#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace keyhold::agent {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
}  // namespace

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "warning") return LogLevel::kWarning;
  if (name == "error") return LogLevel::kError;
  return absl::InvalidArgumentError(
      absl::StrCat("log level \"", name, "\" is not debug, info, warning or error"));
}

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }

void Log(LogLevel level, absl::string_view message) {
  if (static_cast<int>(level) > g_level.load()) return;
  const std::string line = absl::StrCat("<", static_cast<int>(level), ">keyholdd: ", message, "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace keyhold::agent
