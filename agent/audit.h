// The audit trail: one JSON line per security event, appended to a file
// (mode 0600) and, when asked, sent to journald. Never holds a PIN or key
// material; digests and serials are fine.
#ifndef KEYHOLD_AGENT_AUDIT_H_
#define KEYHOLD_AGENT_AUDIT_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/caller.h"

namespace keyhold::agent {

struct AuditEvent {
  const Caller* caller = nullptr;  // null for the agent's own events
  std::string operation;           // "KeyService.Sign", "agent.start", ...
  std::string key_label;
  std::string key_id;              // hex
  std::string detail;              // digest, request summary
  absl::Status result;
};

class AuditLog {
 public:
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::string& path,
                                                        bool journald);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends one line. A write failure is reported on stderr, never thrown
  // back into the operation being audited.
  void Record(const AuditEvent& event);

  // The line Record writes, without the trailing newline (tests).
  static std::string Format(const AuditEvent& event);

 private:
  AuditLog(int fd, bool journald) : fd_(fd), journald_(journald) {}
  absl::Mutex mu_;
  const int fd_;
  const bool journald_;
};

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_AUDIT_H_
