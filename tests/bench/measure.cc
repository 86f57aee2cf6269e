#include "tests/bench/measure.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <mutex>
#include <thread>
#include <vector>

namespace keyhold::bench {

using Clock = std::chrono::steady_clock;

namespace {

double SelfCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// utime + stime of `pid` from /proc/PID/stat (fields 14 and 15, after the
// parenthesised command name); 0 when unreadable.
double ProcessCpuSeconds(pid_t pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i >= 14) ticks += std::atof(field.c_str());
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

Result Measure(int threads, double seconds,
               const std::function<std::function<bool()>()>& make_worker, pid_t peer) {
  std::atomic<bool> stop{false};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::vector<double> latencies;
  std::vector<std::thread> pool;
  const auto start = Clock::now();
  const double self_cpu_start = SelfCpuSeconds();
  const double peer_cpu_start = ProcessCpuSeconds(peer);
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      std::function<bool()> work = make_worker();
      std::vector<double> mine;
      while (!stop.load(std::memory_order_relaxed)) {
        const auto t0 = Clock::now();
        if (!work()) {
          failed = true;
          break;
        }
        mine.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      }
      std::lock_guard<std::mutex> lock(mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : pool) t.join();
  const double self_cpu = SelfCpuSeconds() - self_cpu_start;
  const double peer_cpu = ProcessCpuSeconds(peer) - peer_cpu_start;
  if (failed) {
    std::fprintf(stderr, "an operation failed\n");
    std::exit(1);
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(latencies.begin(), latencies.end());
  Result r;
  r.rate = static_cast<double>(latencies.size()) / elapsed;
  if (!latencies.empty()) {
    r.p50_us = latencies[latencies.size() / 2];
    r.p99_us = latencies[latencies.size() * 99 / 100];
    r.self_cpu_us = self_cpu * 1e6 / static_cast<double>(latencies.size());
    r.peer_cpu_us = peer_cpu * 1e6 / static_cast<double>(latencies.size());
  }
  return r;
}

}  // namespace keyhold::bench
