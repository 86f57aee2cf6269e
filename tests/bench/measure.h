// The benchmarks' one way to measure: N threads run an operation for a
// fixed time; operations per second and latency percentiles.
#ifndef KEYHOLD_TESTS_BENCH_MEASURE_H_
#define KEYHOLD_TESTS_BENCH_MEASURE_H_

#include <sys/types.h>

#include <functional>

namespace keyhold::bench {

struct Result {
  double rate = 0;  // operations per second, all threads together
  double p50_us = 0;
  double p99_us = 0;
  // CPU time (user + system) per operation: this process's, and that of
  // the process given as `peer` (the agent), 0 without one.
  double self_cpu_us = 0;
  double peer_cpu_us = 0;
};

// `make_worker()` is called once per thread (set up per-thread state
// there); each call of the function it returns does one operation and
// returns false on error, which ends the program with a message.
Result Measure(int threads, double seconds,
               const std::function<std::function<bool()>()>& make_worker, pid_t peer = 0);

}  // namespace keyhold::bench

#endif  // KEYHOLD_TESTS_BENCH_MEASURE_H_
