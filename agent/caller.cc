#include "agent/caller.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace keyhold::agent {
namespace {

std::string ExecutableOf(pid_t pid) {
  char buf[4096];
  const std::string exe = absl::StrCat("/proc/", pid, "/exe");
  ssize_t n = readlink(exe.c_str(), buf, sizeof(buf) - 1);
  if (n > 0) return std::string(buf, static_cast<size_t>(n));
  // Another user's /proc/<pid>/exe needs ptrace rights; comm does not.
  std::ifstream comm(absl::StrCat("/proc/", pid, "/comm"));
  std::string name;
  if (std::getline(comm, name) && !name.empty()) return absl::StrCat("comm:", name);
  return "";
}

std::vector<gid_t> GroupsOf(uid_t uid, gid_t primary) {
  std::vector<gid_t> groups{primary};
  std::vector<char> buf(16384);
  struct passwd pw {};
  struct passwd* found = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return groups;
  }
  int count = 64;
  std::vector<gid_t> list(static_cast<size_t>(count));
  if (getgrouplist(pw.pw_name, primary, list.data(), &count) < 0) {
    list.resize(static_cast<size_t>(count));
    if (getgrouplist(pw.pw_name, primary, list.data(), &count) < 0) return groups;
  }
  list.resize(static_cast<size_t>(count));
  for (gid_t g : list) {
    if (std::find(groups.begin(), groups.end(), g) == groups.end()) groups.push_back(g);
  }
  return groups;
}

}  // namespace

bool Caller::InGroup(gid_t g) const {
  return std::find(groups.begin(), groups.end(), g) != groups.end();
}

absl::StatusOr<Caller> CallerOfSocket(int fd) {
  struct ucred cred {};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return absl::InternalError(
        absl::StrCat("SO_PEERCRED: ", std::strerror(errno)));
  }
  Caller caller;
  caller.uid = cred.uid;
  caller.gid = cred.gid;
  caller.pid = cred.pid;
  caller.executable = ExecutableOf(cred.pid);
  caller.groups = GroupsOf(cred.uid, cred.gid);
  return caller;
}

}  // namespace keyhold::agent
