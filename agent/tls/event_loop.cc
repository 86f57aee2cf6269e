#include "agent/tls/event_loop.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <cassert>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"

namespace keyhold::agent::tls {
namespace {

// The epoll token of the wake-up eventfd; fd tokens have a generation in
// the high half, which never reaches this value's.
constexpr uint64_t kWakeToken = ~uint64_t{0};
constexpr int kMaxEventsPerWait = 64;

uint64_t Token(uint32_t generation, int fd) {
  return (uint64_t{generation} << 32) | static_cast<uint32_t>(fd);
}

absl::Status ErrnoStatus(absl::string_view what) {
  return absl::InternalError(absl::StrCat(
      what, ": ", std::error_code(errno, std::generic_category()).message()));
}

// A broken epoll or eventfd is a bug in this file, not a runtime condition.
[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "keyhold event loop: %s failed (errno %d)\n", what,
               errno);
  std::abort();
}

}  // namespace

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::Start() {
  UniqueFd epoll(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll.valid()) return ErrnoStatus("epoll_create1");
  UniqueFd wake(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake.valid()) return ErrnoStatus("eventfd");
  epoll_event event = {};
  event.events = EPOLLIN;
  event.data.u64 = kWakeToken;
  if (epoll_ctl(epoll.get(), EPOLL_CTL_ADD, wake.get(), &event) != 0) {
    return ErrnoStatus("epoll_ctl(eventfd)");
  }
  std::unique_ptr<EventLoop> loop(
      new EventLoop(std::move(epoll), std::move(wake)));
  EventLoop* raw = loop.get();
  loop->thread_ = std::thread([raw] { raw->Run(); });
  return loop;
}

EventLoop::~EventLoop() {
  // Joining from the loop thread would wait for itself.
  assert(!InLoopThread());
  {
    absl::MutexLock lock(&mu_);
    stop_requested_ = true;
  }
  Wake();
  thread_.join();
}

bool EventLoop::Post(Task task) {
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return false;
    tasks_.push_back(std::move(task));
    if (wake_pending_) return true;
    wake_pending_ = true;
  }
  Wake();
  return true;
}

void EventLoop::Wake() {
  const uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: the loop will wake.
  if (write(wake_.get(), &one, sizeof(one)) < 0 && errno != EAGAIN) {
    Die("write(eventfd)");
  }
}

absl::Status EventLoop::Watch(int fd, uint32_t events,
                              std::shared_ptr<FdHandler> handler) {
  if (registrations_.contains(fd)) {
    return absl::FailedPreconditionError("the fd is already watched");
  }
  Registration registration{.generation = ++next_generation_ & 0x7fffffff,
                            .events = events,
                            .handler = std::move(handler)};
  if (absl::Status s = Apply(fd, registration, 0); !s.ok()) return s;
  registrations_.emplace(fd, std::move(registration));
  return absl::OkStatus();
}

absl::Status EventLoop::Modify(int fd, uint32_t events) {
  auto it = registrations_.find(fd);
  if (it == registrations_.end()) {
    return absl::FailedPreconditionError("modifying an fd that is not watched");
  }
  const uint32_t before = it->second.events;
  if (before == events) return absl::OkStatus();
  it->second.events = events;
  return Apply(fd, it->second, before);
}

absl::Status EventLoop::Apply(int fd, const Registration& registration,
                              uint32_t before) {
  if (registration.events == 0) {
    if (before != 0 &&
        epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr) != 0) {
      return ErrnoStatus("epoll_ctl(DEL)");
    }
    return absl::OkStatus();
  }
  epoll_event event = {};
  event.events = registration.events;
  event.data.u64 = Token(registration.generation, fd);
  if (epoll_ctl(epoll_.get(), before == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd,
                &event) != 0) {
    return ErrnoStatus("epoll_ctl");
  }
  return absl::OkStatus();
}

void EventLoop::Unwatch(int fd) {
  auto it = registrations_.find(fd);
  if (it == registrations_.end()) return;
  if (it->second.events != 0)
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  // A handler unwatching itself stays alive: Dispatch and ShutDown hold a
  // reference of their own during the call.
  registrations_.erase(it);
}

EventLoop::TimerId EventLoop::RunAfter(absl::Duration delay, Task task) {
  if (delay == absl::InfiniteDuration()) return 0;
  const Clock::time_point when =
      Clock::now() +
      absl::ToChronoNanoseconds(std::max(delay, absl::ZeroDuration()));
  const TimerId id = ++next_timer_id_;
  timers_.emplace(std::make_pair(when, id), std::move(task));
  timer_deadlines_.emplace(id, when);
  return id;
}

void EventLoop::CancelTimer(TimerId id) {
  auto it = timer_deadlines_.find(id);
  if (it == timer_deadlines_.end()) return;
  timers_.erase(std::make_pair(it->second, id));
  timer_deadlines_.erase(it);
}

void EventLoop::Run() {
  thread_id_.store(std::this_thread::get_id());
  pthread_setname_np(pthread_self(), "keyhold-tls");
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);

  std::vector<epoll_event> events(kMaxEventsPerWait);
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_requested_) break;
    }
    const int count = epoll_wait(epoll_.get(), events.data(), kMaxEventsPerWait,
                                 MillisecondsToNextTimer());
    if (count < 0) {
      if (errno == EINTR) continue;
      Die("epoll_wait");
    }
    for (int i = 0; i < count; ++i) {
      if (events[i].data.u64 == kWakeToken) {
        uint64_t counter = 0;
        if (read(wake_.get(), &counter, sizeof(counter)) < 0 &&
            errno != EAGAIN) {
          Die("read(eventfd)");
        }
        continue;
      }
      Dispatch(events[i].data.u64, events[i].events);
    }
    RunPostedTasks();
    RunDueTimers();
  }
  ShutDown();
}

void EventLoop::Dispatch(uint64_t token, uint32_t events) {
  const int fd = static_cast<int>(token & 0xffffffff);
  auto it = registrations_.find(fd);
  // Unwatched (or re-watched as another registration) since epoll_wait.
  if (it == registrations_.end() ||
      it->second.generation != static_cast<uint32_t>(token >> 32)) {
    return;
  }
  std::shared_ptr<FdHandler> handler = it->second.handler;
  handler->OnFdReady(events);
}

void EventLoop::RunPostedTasks() {
  std::deque<Task> batch;
  {
    absl::MutexLock lock(&mu_);
    batch.swap(tasks_);
    wake_pending_ = false;
  }
  for (Task& task : batch) std::move(task)();
}

void EventLoop::RunDueTimers() {
  const Clock::time_point now = Clock::now();
  while (!timers_.empty() && timers_.begin()->first.first <= now) {
    auto node = timers_.extract(timers_.begin());
    timer_deadlines_.erase(node.key().second);
    std::move(node.mapped())();
  }
}

int EventLoop::MillisecondsToNextTimer() const {
  if (timers_.empty()) return -1;
  const auto wait = timers_.begin()->first.first - Clock::now();
  if (wait <= Clock::duration::zero()) return 0;
  // Round up: waking a little late is fine, spinning early is not.
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

void EventLoop::ShutDown() {
  std::deque<Task> remaining;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    remaining.swap(tasks_);
  }
  for (Task& task : remaining) std::move(task)();
  std::vector<std::shared_ptr<FdHandler>> handlers;
  handlers.reserve(registrations_.size());
  for (auto& [fd, registration] : registrations_) {
    handlers.push_back(registration.handler);
  }
  for (const std::shared_ptr<FdHandler>& handler : handlers) {
    handler->OnLoopShutdown();
  }
  for (auto& [fd, registration] : registrations_) {
    if (registration.events != 0) {
      epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    }
  }
  registrations_.clear();
  timers_.clear();
  timer_deadlines_.clear();
}

}  // namespace keyhold::agent::tls
