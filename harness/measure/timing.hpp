#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace attn::harness {

struct TimingOptions {
  int reps = 5;           // repetitions; the median, min and max are taken over them
  double min_time = 0.2;  // seconds each repetition runs at least (more iterations if fast)
};

struct Timing {
  int reps = 0;
  double median_ms = 0, min_ms = 0, max_ms = 0;  // real time per call
  std::int64_t rss_delta_bytes = 0;  // peak resident-set growth over the whole measurement
};

// Times `forward` with Google Benchmark (real time, repetitions). No MemoryManager: Google
// Benchmark 1.7 reruns the benchmark under it once per repetition, up to 16 iterations each,
// which at long N nearly doubled a point's time; the heap peak is taken on the warm-up call
// instead (measure.cpp). Throws std::runtime_error with the message if a call throws.
Timing time_forward(const std::string& name, const std::function<void()>& forward,
                    const TimingOptions& options);

}  // namespace attn::harness
