#include "agent/tls/event_loop.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "tests/status_matchers.h"

namespace keyhold::agent::tls {
namespace {

using ::keyhold::testing::IsOk;
using ::testing::ElementsAre;

class EventLoopTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK_AND_ASSIGN(loop_, EventLoop::Start()); }

  // Runs `fn` on the loop thread and waits for it.
  template <typename Fn>
  void RunOnLoop(Fn fn) {
    absl::Notification done;
    ASSERT_TRUE(loop_->Post([&] {
      fn();
      done.Notify();
    }));
    done.WaitForNotification();
  }

  std::unique_ptr<EventLoop> loop_;
};

TEST_F(EventLoopTest, PostedTasksRunInOrderOnTheLoopThread) {
  std::vector<int> order;
  std::thread::id ran_on;
  absl::Notification done;
  for (int i = 0; i < 5; ++i) {
    loop_->Post([&, i] {
      order.push_back(i);
      ran_on = std::this_thread::get_id();
      if (i == 4) done.Notify();
    });
  }
  done.WaitForNotification();
  EXPECT_THAT(order, ElementsAre(0, 1, 2, 3, 4));
  EXPECT_EQ(ran_on, loop_->thread_id());
  EXPECT_NE(ran_on, std::this_thread::get_id());
  EXPECT_FALSE(loop_->InLoopThread());
}

TEST_F(EventLoopTest, PostsFromManyThreadsAllRun) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 500;
  std::atomic<int> ran{0};
  std::vector<std::thread> posters;
  for (int t = 0; t < kThreads; ++t) {
    posters.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) loop_->Post([&] { ++ran; });
    });
  }
  for (std::thread& poster : posters) poster.join();
  RunOnLoop([] {});
  EXPECT_EQ(ran.load(), kThreads * kPerThread);
}

TEST_F(EventLoopTest, TimersFireInDeadlineOrderAndCancelledOnesDoNot) {
  absl::Mutex mu;
  std::vector<int> fired;
  absl::Notification last;
  RunOnLoop([&] {
    loop_->RunAfter(absl::Milliseconds(60), [&] {
      absl::MutexLock lock(&mu);
      fired.push_back(3);
      last.Notify();
    });
    loop_->RunAfter(absl::Milliseconds(20), [&] {
      absl::MutexLock lock(&mu);
      fired.push_back(1);
    });
    const EventLoop::TimerId cancelled =
        loop_->RunAfter(absl::Milliseconds(30), [&] {
          absl::MutexLock lock(&mu);
          fired.push_back(2);
        });
    loop_->CancelTimer(cancelled);
  });
  const absl::Time start = absl::Now();
  last.WaitForNotification();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  absl::MutexLock lock(&mu);
  EXPECT_THAT(fired, ElementsAre(1, 3));
}

TEST_F(EventLoopTest, InfiniteDelayIsNeverScheduled) {
  RunOnLoop(
      [&] { EXPECT_EQ(loop_->RunAfter(absl::InfiniteDuration(), [] {}), 0u); });
}

// Counts readiness of an eventfd and answers shutdown.
class CountingHandler : public EventLoop::FdHandler {
 public:
  explicit CountingHandler(EventLoop& loop, int fd) : loop_(loop), fd_(fd) {}
  void OnFdReady(uint32_t /*events*/) override {
    uint64_t value = 0;
    [[maybe_unused]] ssize_t ignored = read(fd_, &value, sizeof(value));
    ++ready_;
  }
  void OnLoopShutdown() override {
    loop_.Unwatch(fd_);
    shut_down_ = true;
  }
  int ready() const { return ready_.load(); }
  bool shut_down() const { return shut_down_.load(); }

 private:
  EventLoop& loop_;
  const int fd_;
  std::atomic<int> ready_{0};
  std::atomic<bool> shut_down_{false};
};

void Signal(int fd) {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t ignored = write(fd, &one, sizeof(one));
}

void WaitFor(const std::function<bool()>& condition) {
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (!condition() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
}

TEST_F(EventLoopTest, WatchedFdDispatchesUntilInterestIsZero) {
  UniqueFd event(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  auto handler = std::make_shared<CountingHandler>(*loop_, event.get());
  RunOnLoop([&] {
    EXPECT_THAT(loop_->Watch(event.get(), EPOLLIN, handler), IsOk());
  });
  Signal(event.get());
  WaitFor([&] { return handler->ready() == 1; });
  EXPECT_EQ(handler->ready(), 1);

  RunOnLoop([&] { EXPECT_THAT(loop_->Modify(event.get(), 0), IsOk()); });
  Signal(event.get());
  absl::SleepFor(absl::Milliseconds(30));
  RunOnLoop([] {});
  EXPECT_EQ(handler->ready(), 1);

  // Interest back: the pending signal is seen.
  RunOnLoop([&] { EXPECT_THAT(loop_->Modify(event.get(), EPOLLIN), IsOk()); });
  WaitFor([&] { return handler->ready() == 2; });
  EXPECT_EQ(handler->ready(), 2);
  RunOnLoop([&] { loop_->Unwatch(event.get()); });
}

TEST_F(EventLoopTest, ShutdownRunsPendingTasksAndTellsWatchers) {
  UniqueFd event(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  auto handler = std::make_shared<CountingHandler>(*loop_, event.get());
  RunOnLoop(
      [&] { ASSERT_THAT(loop_->Watch(event.get(), 0, handler), IsOk()); });
  std::atomic<bool> pending_ran{false};
  bool timer_ran = false;
  RunOnLoop(
      [&] { loop_->RunAfter(absl::Hours(1), [&] { timer_ran = true; }); });
  loop_->Post([&] { pending_ran = true; });
  loop_.reset();
  EXPECT_TRUE(pending_ran.load());
  EXPECT_TRUE(handler->shut_down());
  EXPECT_FALSE(timer_ran);
}

}  // namespace
}  // namespace keyhold::agent::tls
