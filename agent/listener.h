// The agent's unix socket(s): created by the agent (mode 0660, group from
// the config) or passed by systemd (socket activation). A thread accepts
// connections and hands each connected fd to a callback.
#ifndef KEYHOLD_AGENT_LISTENER_H_
#define KEYHOLD_AGENT_LISTENER_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace keyhold::agent {

class Listener {
 public:
  // Binds a unix socket at `path`. A stale socket file (nobody listening)
  // is replaced; a live one or a non-socket file is an error. The socket
  // is created with mode 0660 and, if given, group `group`.
  static absl::StatusOr<std::unique_ptr<Listener>> Bind(
      const std::string& path, std::optional<gid_t> group);

  // Adopts the listening sockets systemd passed (LISTEN_FDS). NOT_FOUND
  // when there are none; INVALID_ARGUMENT when one is not a unix stream
  // socket.
  static absl::StatusOr<std::unique_ptr<Listener>> FromSystemd();

  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Starts accepting; `on_connection` gets each connected, non-blocking,
  // close-on-exec fd and owns it.
  void Start(std::function<void(int fd)> on_connection);

  // Stops accepting and closes the listening sockets; removes the socket
  // file if this listener created it. Idempotent.
  void Stop();

  const std::string& description() const { return description_; }

 private:
  Listener(std::vector<int> fds, std::string created_path, std::string description);
  void AcceptLoop();

  std::vector<int> fds_;
  std::string created_path_;  // empty for systemd sockets
  std::string description_;
  int wake_fd_ = -1;          // eventfd that interrupts the accept loop
  std::function<void(int)> on_connection_;
  std::thread thread_;
};

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_LISTENER_H_
