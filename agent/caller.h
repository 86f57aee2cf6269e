// Who is calling: the peer credentials the kernel reports for a unix socket
// connection (SO_PEERCRED), read once when the connection is accepted.
#ifndef KEYHOLD_AGENT_CALLER_H_
#define KEYHOLD_AGENT_CALLER_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace keyhold::agent {

struct Caller {
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  pid_t pid = 0;
  // /proc/<pid>/exe when readable, else "comm:<name>"; empty if gone.
  std::string executable;
  // The primary gid plus the supplementary groups of the uid's user.
  std::vector<gid_t> groups;

  bool InGroup(gid_t g) const;
};

// Reads SO_PEERCRED and the caller's executable and groups.
absl::StatusOr<Caller> CallerOfSocket(int fd);

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_CALLER_H_
