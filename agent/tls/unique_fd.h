// Owns one file descriptor (a socket, an epoll instance, an eventfd) and
// closes it when destroyed. Move-only.
#ifndef KEYHOLD_AGENT_TLS_UNIQUE_FD_H_
#define KEYHOLD_AGENT_TLS_UNIQUE_FD_H_

#include <unistd.h>

namespace keyhold::agent::tls {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace keyhold::agent::tls

#endif  // KEYHOLD_AGENT_TLS_UNIQUE_FD_H_
