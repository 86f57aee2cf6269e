#include "agent/token_work.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"

namespace keyhold::agent {
namespace {

constexpr absl::Duration kFast = absl::Microseconds(100);
constexpr absl::Duration kWait = absl::Seconds(30);

// Runs work expected to take `expected` and returns the thread it ran on,
// once it has run.
std::thread::id RanOn(TokenWorkRunner& runner, absl::Duration expected) {
  absl::Notification done;
  std::thread::id ran_on;
  EXPECT_TRUE(runner.Run(expected, [&] {
    ran_on = std::this_thread::get_id();
    done.Notify();
  }));
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  return ran_on;
}

// Polls `done` until it holds or kWait passes.
template <typename Predicate>
void WaitUntil(Predicate done) {
  const absl::Time deadline = absl::Now() + kWait;
  while (!done() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
}

TEST(LatencyEstimateTest, UnknownUntilTheFirstSampleThenFollowsTheSamples) {
  LatencyEstimate estimate;
  EXPECT_EQ(estimate.Get(), absl::InfiniteDuration());
  estimate.Add(absl::Microseconds(80));
  EXPECT_EQ(estimate.Get(), absl::Microseconds(80));
  // A token that turns slow is noticed within a few calls.
  for (int i = 0; i < 8; ++i) estimate.Add(absl::Milliseconds(20));
  EXPECT_GT(estimate.Get(), absl::Milliseconds(1));
  // One slow call among fast ones is forgiven soon.
  for (int i = 0; i < 24; ++i) estimate.Add(absl::Microseconds(80));
  EXPECT_LT(estimate.Get(), absl::Microseconds(200));
}

TEST(TokenWorkRunnerTest, FastWorkRunsOnTheCallingThread) {
  TokenWorkRunner runner({});
  EXPECT_EQ(RanOn(runner, kFast), std::this_thread::get_id());
  EXPECT_EQ(runner.stats().inline_runs, 1u);
  EXPECT_EQ(runner.stats().workers, 0);
}

TEST(TokenWorkRunnerTest, UnknownOrSlowWorkGoesToAWorker) {
  TokenWorkRunner runner({});
  for (absl::Duration expected : {absl::InfiniteDuration(), absl::Milliseconds(5)}) {
    EXPECT_NE(RanOn(runner, expected), std::this_thread::get_id());
  }
  EXPECT_EQ(runner.stats().inline_runs, 0u);
  EXPECT_EQ(runner.stats().worker_runs, 2u);
}

// The property ADR 0006 rests on: while one thread runs token work inline,
// no other may, so a hung token call holds at most one gRPC callback thread.
TEST(TokenWorkRunnerTest, AtMostOneThreadRunsWorkInline) {
  TokenWorkRunner runner({});
  absl::Notification inline_started, release_inline;
  std::thread blocked([&] {
    EXPECT_TRUE(runner.Run(kFast, [&] {
      inline_started.Notify();
      release_inline.WaitForNotification();
    }));
  });
  ASSERT_TRUE(inline_started.WaitForNotificationWithTimeout(kWait));

  // Fast work from this thread now returns at once and runs elsewhere.
  const std::thread::id second_ran_on = RanOn(runner, kFast);
  EXPECT_NE(second_ran_on, std::this_thread::get_id());
  EXPECT_NE(second_ran_on, blocked.get_id());

  release_inline.Notify();
  blocked.join();
  // The slot is free again.
  EXPECT_EQ(RanOn(runner, kFast), std::this_thread::get_id());
  EXPECT_EQ(runner.stats().inline_runs, 2u);
}

TEST(TokenWorkRunnerTest, SlowWorkRunsInParallelUpToTheWorkerLimit) {
  constexpr int kWorkers = 3;
  TokenWorkRunner runner({.max_workers = kWorkers});
  absl::BlockingCounter all_started(kWorkers);
  absl::Notification release;
  std::atomic<int> finished{0};
  for (int i = 0; i < kWorkers + 2; ++i) {
    EXPECT_TRUE(runner.Run(absl::InfiniteDuration(), [&, i] {
      if (i < kWorkers) all_started.DecrementCount();
      release.WaitForNotification();
      finished.fetch_add(1);
    }));
  }
  // kWorkers blocked calls at once: they cannot start unless in parallel.
  all_started.Wait();
  EXPECT_EQ(runner.stats().workers, kWorkers);
  // Meanwhile fast work still runs inline.
  bool ran = false;
  EXPECT_TRUE(runner.Run(kFast, [&] { ran = true; }));
  EXPECT_TRUE(ran);
  release.Notify();
  WaitUntil([&] { return finished.load() == kWorkers + 2; });
  EXPECT_EQ(runner.stats().workers, kWorkers);
}

TEST(TokenWorkRunnerTest, IdleWorkersEndAndNewOnesStartWhenNeeded) {
  TokenWorkRunner runner({.idle_timeout = absl::Milliseconds(20)});
  for (int round = 0; round < 3; ++round) {
    absl::Notification done;
    EXPECT_TRUE(runner.Run(absl::InfiniteDuration(), [&] { done.Notify(); }));
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWait));
    WaitUntil([&] { return runner.stats().workers == 0; });
    EXPECT_EQ(runner.stats().workers, 0) << "round " << round;
  }
  EXPECT_EQ(runner.stats().worker_runs, 3u);
}

TEST(TokenWorkRunnerTest, DestructionRunsQueuedWork) {
  std::atomic<int> ran{0};
  {
    TokenWorkRunner runner({.max_workers = 1});
    absl::Notification release;
    EXPECT_TRUE(runner.Run(absl::InfiniteDuration(), [&] {
      release.WaitForNotification();
      ran.fetch_add(1);
    }));
    for (int i = 0; i < 10; ++i) EXPECT_TRUE(runner.Run(absl::InfiniteDuration(), [&] { ran.fetch_add(1); }));
    release.Notify();
  }
  EXPECT_EQ(ran.load(), 11);
}

TEST(TokenWorkRunnerTest, ManyThreadsManyCallsAllRunOnce) {
  constexpr int kThreads = 8, kCalls = 2000;
  TokenWorkRunner runner({.max_workers = 4, .max_queued = kThreads * kCalls});
  std::atomic<int> ran{0};
  absl::BlockingCounter done(kThreads * kCalls);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        const absl::Duration expected = (i + t) % 3 == 0 ? absl::InfiniteDuration() : kFast;
        EXPECT_TRUE(runner.Run(expected, [&] {
          ran.fetch_add(1);
          done.DecrementCount();
        }));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  done.Wait();
  EXPECT_EQ(ran.load(), kThreads * kCalls);
  const TokenWorkRunner::Stats stats = runner.stats();
  EXPECT_EQ(stats.inline_runs + stats.worker_runs, static_cast<uint64_t>(kThreads * kCalls));
  EXPECT_LE(stats.peak_workers, 4);
  EXPECT_GE(stats.peak_workers, 1);
}

TEST(TokenWorkRunnerTest, RefusesWorkBeyondTheQueueLimitAndRunsTheRest) {
  TokenWorkRunner runner({.max_workers = 1, .max_queued = 2});
  absl::Notification started, release;
  std::atomic<int> ran{0};
  EXPECT_TRUE(runner.Run(absl::InfiniteDuration(), [&] {
    started.Notify();
    release.WaitForNotification();
    ran.fetch_add(1);
  }));
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kWait));  // the worker is busy
  EXPECT_TRUE(runner.Run(absl::InfiniteDuration(), [&] { ran.fetch_add(1); }));
  EXPECT_TRUE(runner.Run(absl::InfiniteDuration(), [&] { ran.fetch_add(1); }));
  bool refused_ran = false;
  EXPECT_FALSE(runner.Run(absl::InfiniteDuration(), [&] { refused_ran = true; }));
  // Fast work still runs inline while the queue is full.
  bool fast_ran = false;
  EXPECT_TRUE(runner.Run(kFast, [&] { fast_ran = true; }));
  EXPECT_TRUE(fast_ran);
  release.Notify();
  WaitUntil([&] { return ran.load() >= 3; });
  EXPECT_EQ(ran.load(), 3);
  EXPECT_FALSE(refused_ran);
}

TEST(TokenWorkRunnerTest, TheInlineSlotIsFreedWhenTheWorkThrows) {
  TokenWorkRunner runner({});
  EXPECT_THROW(
      { (void)runner.Run(kFast, [] { throw std::runtime_error("token library threw"); }); },
      std::runtime_error);
  EXPECT_EQ(RanOn(runner, kFast), std::this_thread::get_id());
}

}  // namespace
}  // namespace keyhold::agent
