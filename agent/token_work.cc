#include "agent/token_work.h"

#include <algorithm>
#include <system_error>
#include <utility>

namespace keyhold::agent {

void LatencyEstimate::Add(absl::Duration sample) {
  const int64_t nanos = absl::ToInt64Nanoseconds(sample);
  int64_t old = nanos_.load(std::memory_order_relaxed);
  int64_t next;
  do {
    // Weight 1/4 for the new sample: a token that turns slow is noticed
    // within a few calls; one slow call among fast ones is forgiven soon.
    next = old == kUnknown ? nanos : old + (nanos - old) / 4;
  } while (!nanos_.compare_exchange_weak(old, next, std::memory_order_relaxed));
}

absl::Duration LatencyEstimate::Get() const {
  const int64_t nanos = nanos_.load(std::memory_order_relaxed);
  return nanos == kUnknown ? absl::InfiniteDuration() : absl::Nanoseconds(nanos);
}

TokenWorkRunner::TokenWorkRunner(Options options) : options_(options) {}

TokenWorkRunner::~TokenWorkRunner() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    work_ready_.SignalAll();
    for (auto& [id, thread] : workers_) threads.push_back(std::move(thread));
    for (std::thread& thread : ended_) threads.push_back(std::move(thread));
    workers_.clear();
    ended_.clear();
  }
  for (std::thread& thread : threads) thread.join();
}

bool TokenWorkRunner::Run(absl::Duration expected, absl::AnyInvocable<void() &&> work) {
  if (expected <= options_.inline_limit && !inline_busy_.exchange(true, std::memory_order_acquire)) {
    // Frees the slot however the work ends.
    struct SlotRelease {
      std::atomic<bool>& busy;
      ~SlotRelease() { busy.store(false, std::memory_order_release); }
    } release{inline_busy_};
    inline_runs_.fetch_add(1, std::memory_order_relaxed);
    std::move(work)();
    return true;
  }
  return Enqueue(std::move(work));
}

bool TokenWorkRunner::Enqueue(absl::AnyInvocable<void() &&> work) {
  std::vector<std::thread> ended;
  bool taken = false;
  {
    absl::MutexLock lock(&mu_);
    ended.swap(ended_);
    if (queue_.size() < options_.max_queued) {
      bool can_run = !workers_.empty();
      if (queue_.size() + 1 > static_cast<size_t>(idle_) &&
          workers_.size() < static_cast<size_t>(options_.max_workers)) {
        // The thread first, the work after: work is queued only when some
        // worker will run it.
        std::thread thread;
        if (StartThread(thread)) {
          const std::thread::id id = thread.get_id();
          workers_.emplace(id, std::move(thread));
          peak_workers_ = std::max(peak_workers_, static_cast<int>(workers_.size()));
          can_run = true;
        }
      }
      if (can_run) {
        queue_.push_back(std::move(work));
        work_ready_.Signal();
        taken = true;
      }
    }
  }
  for (std::thread& thread : ended) thread.join();
  return taken;
}

bool TokenWorkRunner::StartThread(std::thread& thread) {
  try {
    thread = std::thread([this] { WorkerLoop(); });
    return true;
  } catch (const std::system_error&) {  // out of threads (EAGAIN)
    return false;
  }
}

void TokenWorkRunner::WorkerLoop() {
  mu_.Lock();
  while (true) {
    while (queue_.empty() && !stopping_) {
      ++idle_;
      const bool timed_out = work_ready_.WaitWithTimeout(&mu_, options_.idle_timeout);
      --idle_;
      if (timed_out && queue_.empty() && !stopping_) {
        // Hand this thread's handle to whoever comes next to join it.
        auto self = workers_.find(std::this_thread::get_id());
        ended_.push_back(std::move(self->second));
        workers_.erase(self);
        mu_.Unlock();
        return;
      }
    }
    if (queue_.empty()) break;  // stopping, and nothing left to run
    {
      absl::AnyInvocable<void() &&> work = std::move(queue_.front());
      queue_.pop_front();
      ++worker_runs_;
      mu_.Unlock();
      std::move(work)();
    }  // the work's captures go before the lock is taken again
    mu_.Lock();
  }
  mu_.Unlock();
}

TokenWorkRunner::Stats TokenWorkRunner::stats() const {
  Stats stats;
  stats.inline_runs = inline_runs_.load(std::memory_order_relaxed);
  absl::MutexLock lock(&mu_);
  stats.worker_runs = worker_runs_;
  stats.workers = static_cast<int>(workers_.size());
  stats.peak_workers = peak_workers_;
  return stats;
}

}  // namespace keyhold::agent
