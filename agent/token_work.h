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
    // Work waiting for a worker at most; Run refuses more (a hung token
    // must not let callers pile up work without bound).
    size_t max_queued = 1024;
  };
  struct Stats {
    uint64_t inline_runs = 0;
    uint64_t worker_runs = 0;
    int workers = 0;       // threads alive now
    int peak_workers = 0;  // most threads alive at once
  };

  explicit TokenWorkRunner(Options options);
  // Runs the work still queued, then joins the workers.
  ~TokenWorkRunner();
  TokenWorkRunner(const TokenWorkRunner&) = delete;
  TokenWorkRunner& operator=(const TokenWorkRunner&) = delete;

  // Runs `work` on this thread before returning, or later on a worker.
  // `expected` is how long it will likely take (InfiniteDuration if unknown).
  // False when the work cannot be taken (the queue is full, or no worker
  // thread can be started): it was not run and will not be; the caller
  // answers for it.
  [[nodiscard]] bool Run(absl::Duration expected, absl::AnyInvocable<void() &&> work);

  Stats stats() const;

 private:
  bool Enqueue(absl::AnyInvocable<void() &&> work);
  // Starts a worker thread running WorkerLoop; false if the system has no
  // thread to give. Called with mu_ held.
  bool StartThread(std::thread& thread);
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
  int peak_workers_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t worker_runs_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_TOKEN_WORK_H_
