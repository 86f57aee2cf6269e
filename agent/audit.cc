#include "agent/audit.h"

#include <fcntl.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace keyhold::agent {
namespace {

const char* ResultWord(const absl::Status& s) {
  if (s.ok()) return "ok";
  if (absl::IsPermissionDenied(s) || absl::IsUnauthenticated(s)) return "denied";
  if (absl::IsInvalidArgument(s) || absl::IsFailedPrecondition(s) || absl::IsNotFound(s) ||
      absl::IsAlreadyExists(s)) {
    return "refused";
  }
  return "error";
}

}  // namespace

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path,
                                                         bool journald) {
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open audit log ", path, ": ", std::strerror(errno)));
  }
  return std::unique_ptr<AuditLog>(new AuditLog(fd, journald));
}

AuditLog::~AuditLog() { close(fd_); }

std::string AuditLog::Format(const AuditEvent& event) {
  nlohmann::json line;
  line["time"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  if (event.caller != nullptr) {
    line["caller"] = {{"uid", event.caller->uid},
                      {"gid", event.caller->gid},
                      {"pid", event.caller->pid},
                      {"exe", event.caller->executable}};
  }
  line["op"] = event.operation;
  if (!event.key_label.empty() || !event.key_id.empty()) {
    line["key"] = {{"label", event.key_label}, {"id", event.key_id}};
  }
  if (!event.detail.empty()) line["detail"] = event.detail;
  line["result"] = ResultWord(event.result);
  if (!event.result.ok()) line["reason"] = std::string(event.result.message());
  // Invalid UTF-8 from a caller (a label, a subject) is replaced, not thrown.
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void AuditLog::Record(const AuditEvent& event) {
  const std::string line = Format(event);
  {
    absl::MutexLock lock(&mu_);
    const std::string with_newline = line + "\n";
    // One write per line: O_APPEND keeps concurrent lines whole.
    if (write(fd_, with_newline.data(), with_newline.size()) < 0) {
      std::cerr << "keyholdd: audit log write failed: " << std::strerror(errno) << "\n";
    }
  }
  if (journald_) {
    sd_journal_send("MESSAGE=%s", line.c_str(), "PRIORITY=%i",
                    event.result.ok() ? LOG_INFO : LOG_NOTICE,
                    "SYSLOG_IDENTIFIER=keyholdd", "KEYHOLD_AUDIT=1",
                    "KEYHOLD_OP=%s", event.operation.c_str(), nullptr);
  }
}

}  // namespace keyhold::agent
