// keyholdd's diagnostics: one line per message on stderr, with the
// sd-daemon priority prefix ("<6>") that journald turns into a level.
// Audit events go to the audit log, not here. Never log a PIN.
#ifndef KEYHOLD_AGENT_LOG_H_
#define KEYHOLD_AGENT_LOG_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace keyhold::agent {

enum class LogLevel { kDebug = 7, kInfo = 6, kWarning = 4, kError = 3 };

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name);
void SetLogLevel(LogLevel level);
void Log(LogLevel level, absl::string_view message);

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_LOG_H_
