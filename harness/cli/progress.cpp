#include "harness/cli/progress.hpp"

#include <cstdio>

namespace attn::harness {

std::string format_duration(double seconds) {
  const auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  }
  return buf;
}

Progress::Progress(std::int64_t total_rows, double total_work)
    : total_rows_(total_rows), total_work_(total_work) {}

void Progress::start(const std::string& what) {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time_).count();
  std::string eta = "?";
  if (done_work_ > 0) eta = format_duration(elapsed * (total_work_ - done_work_) / done_work_);
  std::fprintf(stderr, "[%lld/%lld] %s | elapsed %s | ETA %s\n",
               static_cast<long long>(done_rows_ + 1), static_cast<long long>(total_rows_),
               what.c_str(), format_duration(elapsed).c_str(), eta.c_str());
}

void Progress::finish(double work) {
  ++done_rows_;
  done_work_ += work;
}

}  // namespace attn::harness
