#include "agent/listener.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace keyhold::agent {
namespace {

absl::Status Errno(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

absl::StatusOr<sockaddr_un> UnixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "socket path \"", path, "\" must be 1 to ", sizeof(addr.sun_path) - 1,
        " bytes"));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

// A socket file nobody listens on is left over from a crash: remove it.
// Anything else at the path stays, and binding fails with a clear error.
absl::Status RemoveStaleSocket(const std::string& path, const sockaddr_un& addr) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? absl::OkStatus() : Errno(absl::StrCat("stat ", path));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists and is not a socket; refusing to replace it"));
  }
  int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return Errno("socket");
  const int rc = connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  const int err = errno;
  close(probe);
  if (rc == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "another process is listening on ", path, " (is keyholdd already running?)"));
  }
  if (err != ECONNREFUSED) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot probe ", path, ": ", std::strerror(err)));
  }
  if (unlink(path.c_str()) != 0) return Errno(absl::StrCat("unlink stale ", path));
  return absl::OkStatus();
}

}  // namespace

Listener::Listener(std::vector<int> fds, std::string created_path, std::string description)
    : fds_(std::move(fds)),
      created_path_(std::move(created_path)),
      description_(std::move(description)) {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

Listener::~Listener() {
  Stop();
  if (wake_fd_ >= 0) close(wake_fd_);
}

absl::StatusOr<std::unique_ptr<Listener>> Listener::Bind(const std::string& path,
                                                         std::optional<gid_t> group) {
  absl::StatusOr<sockaddr_un> addr = UnixAddress(path);
  if (!addr.ok()) return addr.status();
  if (absl::Status s = RemoveStaleSocket(path, *addr); !s.ok()) return s;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  // Created 0660 from the start: no window in which others could connect.
  const mode_t old_umask = umask(0117);
  const int rc = bind(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr));
  const int bind_errno = errno;
  umask(old_umask);
  if (rc != 0) {
    close(fd);
    errno = bind_errno;
    return Errno(absl::StrCat("bind ", path));
  }
  if (group.has_value() && chown(path.c_str(), static_cast<uid_t>(-1), *group) != 0) {
    absl::Status s = Errno(absl::StrCat("chgrp ", *group, " ", path));
    close(fd);
    unlink(path.c_str());
    return s;
  }
  if (listen(fd, 128) != 0) {
    absl::Status s = Errno("listen");
    close(fd);
    unlink(path.c_str());
    return s;
  }
  return std::unique_ptr<Listener>(new Listener({fd}, path, path));
}

absl::StatusOr<std::unique_ptr<Listener>> Listener::FromSystemd() {
  const int n = sd_listen_fds(/*unset_environment=*/1);
  if (n < 0) {
    return absl::InternalError(absl::StrCat("sd_listen_fds: ", std::strerror(-n)));
  }
  if (n == 0) return absl::NotFoundError("no sockets passed by systemd");
  std::vector<int> fds;
  for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; ++fd) {
    if (sd_is_socket_unix(fd, SOCK_STREAM, /*listening=*/1, nullptr, 0) <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "systemd passed fd ", fd, ", which is not a listening unix stream socket"));
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    fds.push_back(fd);
  }
  return std::unique_ptr<Listener>(new Listener(
      std::move(fds), "", absl::StrCat(n, " socket(s) from systemd")));
}

void Listener::Start(std::function<void(int fd)> on_connection) {
  on_connection_ = std::move(on_connection);
  thread_ = std::thread([this] { AcceptLoop(); });
}

void Listener::AcceptLoop() {
  std::vector<pollfd> polls;
  for (int fd : fds_) polls.push_back({fd, POLLIN, 0});
  polls.push_back({wake_fd_, POLLIN, 0});
  for (;;) {
    if (poll(polls.data(), polls.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (polls.back().revents != 0) return;  // Stop()
    for (size_t i = 0; i + 1 < polls.size(); ++i) {
      if ((polls[i].revents & POLLIN) == 0) continue;
      int conn = accept4(polls[i].fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (conn >= 0) on_connection_(conn);
      // EAGAIN, ECONNABORTED, EMFILE: nothing to do now; poll again. A
      // short sleep keeps EMFILE from spinning.
      else if (errno == EMFILE || errno == ENFILE) usleep(10000);
    }
  }
}

void Listener::Stop() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    if (write(wake_fd_, &one, sizeof(one)) < 0) {
      // The eventfd cannot be full; nothing else to do.
    }
    thread_.join();
  }
  for (int fd : fds_) close(fd);
  fds_.clear();
  if (!created_path_.empty()) {
    unlink(created_path_.c_str());
    created_path_.clear();
  }
}

}  // namespace keyhold::agent
