// One thread and one epoll instance that drive every tunnel: sockets,
// timers and tasks posted from other threads all run there, so an open
// connection costs memory, not a thread.
//
// Threading contract:
// - Post() may be called from any thread (it wakes the loop via eventfd).
// - Watch, Modify, Unwatch, RunAfter and CancelTimer only on the loop
//   thread: from a posted task, a timer, or an FdHandler.
// - Work on the loop thread must not block for long: it stalls every
//   connection. (Known exception: a TLS handshake's CertificateVerify is
//   signed by the token inside SSL_do_handshake, on this thread; see
//   tunnel.h.)
// - SIGPIPE is blocked on the loop thread, so writing to a socket the peer
//   reset fails with EPIPE instead of killing the process.
//
// Shutdown (the destructor, from any thread but the loop's): tasks already
// posted still run, then every watched FdHandler gets OnLoopShutdown (a
// tunnel reports CANCELLED to its owner), then timers are dropped unrun.
// Post() returns false from then on.
#ifndef KEYHOLD_AGENT_TLS_EVENT_LOOP_H_
#define KEYHOLD_AGENT_TLS_EVENT_LOOP_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/tls/unique_fd.h"

namespace keyhold::agent::tls {

class EventLoop {
 public:
  using Task = absl::AnyInvocable<void() &&>;
  // 0 is never a valid id.
  using TimerId = uint64_t;

  // Something that owns a watched file descriptor.
  class FdHandler {
   public:
    virtual ~FdHandler() = default;
    // `events`: the EPOLL* bits that fired (EPOLLERR and EPOLLHUP may come
    // without being asked for).
    virtual void OnFdReady(uint32_t events) = 0;
    // The loop is stopping: release the descriptor (Unwatch) and tell the
    // owner. Called once, on the loop thread.
    virtual void OnLoopShutdown() = 0;
  };

  // Creates the epoll instance and the eventfd and starts the thread.
  static absl::StatusOr<std::unique_ptr<EventLoop>> Start();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs `task` on the loop thread, after tasks posted before it. False
  // (and `task` destroyed unrun) once the loop is shutting down.
  bool Post(Task task);

  bool InLoopThread() const {
    return std::this_thread::get_id() == thread_id_.load();
  }
  std::thread::id thread_id() const { return thread_id_.load(); }

  // Loop thread only. Registers `fd` with level-triggered interest in
  // `events` (EPOLLIN, EPOLLOUT); the loop keeps `handler` alive and tells
  // it about shutdown until Unwatch. Interest 0 means no events at all, not
  // even EPOLLHUP (which would otherwise fire on every wait).
  absl::Status Watch(int fd, uint32_t events,
                     std::shared_ptr<FdHandler> handler);
  absl::Status Modify(int fd, uint32_t events);
  // No-op for an fd not watched. Events already fetched for it are dropped.
  void Unwatch(int fd);

  // Loop thread only. Runs `task` after `delay` unless cancelled first; an
  // infinite delay schedules nothing and returns 0.
  TimerId RunAfter(absl::Duration delay, Task task);
  // No-op for 0, fired or unknown ids.
  void CancelTimer(TimerId id);

 private:
  using Clock = std::chrono::steady_clock;
  struct Registration {
    uint32_t generation;
    uint32_t events;  // 0: registered here but not in epoll.
    std::shared_ptr<FdHandler> handler;
  };

  EventLoop(UniqueFd epoll, UniqueFd wake)
      : epoll_(std::move(epoll)), wake_(std::move(wake)) {}

  void Run();
  void Dispatch(uint64_t token, uint32_t events);
  void RunPostedTasks();
  void RunDueTimers();
  int MillisecondsToNextTimer() const;
  void ShutDown();
  void Wake();
  // epoll_ctl for a registration going from `before` to `after` interest.
  absl::Status Apply(int fd, const Registration& registration, uint32_t before);

  const UniqueFd epoll_;
  const UniqueFd wake_;  // eventfd
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};

  absl::Mutex mu_;
  std::deque<Task> tasks_ ABSL_GUARDED_BY(mu_);
  bool wake_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;  // Post() refuses.

  // Loop thread only.
  absl::flat_hash_map<int, Registration> registrations_;
  uint32_t next_generation_ = 0;
  std::map<std::pair<Clock::time_point, TimerId>, Task> timers_;
  absl::flat_hash_map<TimerId, Clock::time_point> timer_deadlines_;
  TimerId next_timer_id_ = 0;
};

}  // namespace keyhold::agent::tls

#endif  // KEYHOLD_AGENT_TLS_EVENT_LOOP_H_
