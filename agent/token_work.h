// Where a gRPC callback handler's token work runs (ADR 0006).
//
// gRPC 1.51 runs callback handlers on a small fixed set of threads (two on a
// two-core machine) that also carry every TLS tunnel. Running a fast token
// signature right there saves the thread hand-offs that cost more than the
// signature itself; a slow or hung token call must not hold those threads.
// TokenWorkRunner runs work inline only when its expected duration is short
// and no other thread is already running token work inline; everything else
// goes to worker threads, created on demand up to a limit and ended when idle.
#ifndef KEYHOLD_AGENT_TOKEN_WORK_H_
#define KEYHOLD_AGENT_TOKEN_WORK_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace keyhold::agent {

// A moving average of one operation's duration, shared between threads.
// Unknown (InfiniteDuration) until the first sample.
class LatencyEstimate {
 public:
  void Add(absl::Duration sample);
  absl::Duration Get() const;

 private:
  static constexpr int64_t kUnknown = -1;
  std::atomic<int64_t> nanos_{kUnknown};
};

class TokenWorkRunner {
 public:
  struct Options {
    // Work expected to take longer than this never runs inline.
    absl::Duration inline_limit = absl::Milliseconds(1);
    // Worker threads at most; further work waits in a queue.
    int max_workers = 32;
    // A worker with nothing to do for this long ends.
    absl::Duration idle_timeout = absl::Seconds(30);
  };
  struct Stats {
    uint64_t inline_runs = 0;
    uint64_t worker_runs = 0;
    int workers = 0;  // threads alive now
  };

  explicit TokenWorkRunner(Options options);
  // Runs the work still queued, then joins the workers.
  ~TokenWorkRunner();
  TokenWorkRunner(const TokenWorkRunner&) = delete;
  TokenWorkRunner& operator=(const TokenWorkRunner&) = delete;

  // Runs `work` on this thread before returning, or later on a worker.
  // `expected` is how long it will likely take (InfiniteDuration if unknown).
  void Run(absl::Duration expected, absl::AnyInvocable<void() &&> work);

  Stats stats() const;

 private:
  void Enqueue(absl::AnyInvocable<void() &&> work);
  void WorkerLoop();

  const Options options_;
  // True while some thread runs work inline: at most one does, so a gRPC
  // callback thread is always free for other calls and tunnels.
  std::atomic<bool> inline_busy_{false};
  std::atomic<uint64_t> inline_runs_{0};

  mutable absl::Mutex mu_;
  absl::CondVar work_ready_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  std::map<std::thread::id, std::thread> workers_ ABSL_GUARDED_BY(mu_);
  // Workers that ended when idle, for the next caller to join.
  std::vector<std::thread> ended_ ABSL_GUARDED_BY(mu_);
  int idle_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t worker_runs_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_TOKEN_WORK_H_
