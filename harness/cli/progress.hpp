#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace attn::harness {

// The progress line on stderr: done/total, the current point, elapsed time and an ETA that
// weighs the remaining work by its predicted cost (pairs · head_dim), not by row count.
class Progress {
 public:
  Progress(std::int64_t total_rows, double total_work);
  // Call before a (point, variant) starts.
  void start(const std::string& what);
  // Call when it is done, with its predicted work.
  void finish(double work);

 private:
  std::int64_t total_rows_, done_rows_ = 0;
  double total_work_, done_work_ = 0;
  std::chrono::steady_clock::time_point start_time_ = std::chrono::steady_clock::now();
};

std::string format_duration(double seconds);  // "1:05", "2:03:04"

}  // namespace attn::harness
