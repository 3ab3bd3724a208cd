#include "harness/measure/timing.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "harness/measure/interrupt.hpp"
#include "harness/measure/rss.hpp"

namespace attn::harness {
namespace {

// Collects the per-repetition runs instead of printing them.
class CollectingReporter final : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred) error = run.error_message;
      if (run.run_type != Run::RT_Iteration) continue;
      if (run.error_occurred) continue;
      times_ms.push_back(run.GetAdjustedRealTime());
    }
  }

  std::vector<double> times_ms;
  std::string error;
};

void initialise_once() {
  static const bool done = [] {
    int argc = 1;
    char name[] = "attnbench";
    char* argv[] = {name, nullptr};
    benchmark::Initialize(&argc, argv);
    // Google Benchmark's first run allocates its own state; doing that here keeps it out of
    // the first point's resident-set growth.
    benchmark::RegisterBenchmark("warm-up", [](benchmark::State& state) {
      for (auto _ : state) {
      }
    })->Iterations(1);
    CollectingReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::ClearRegisteredBenchmarks();
    return true;
  }();
  (void)done;
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

Timing time_forward(const std::string& name, const std::function<void()>& forward,
                    const TimingOptions& options) {
  initialise_once();
  benchmark::RegisterBenchmark(name.c_str(),
                               [&forward](benchmark::State& state) {
                                 for (auto _ : state) {
                                   // An interrupt abandons the timing between forwards; the
                                   // remaining repetitions stop at their first iteration.
                                   if (interrupt_requested()) {
                                     state.SkipWithError("interrupted");
                                     break;
                                   }
                                   try {
                                     forward();
                                   } catch (const std::exception& e) {
                                     state.SkipWithError(e.what());
                                     break;
                                   }
                                 }
                               })
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond)
      ->Repetitions(options.reps)
      ->MinTime(options.min_time)
      ->ReportAggregatesOnly(false);

  reset_peak_rss();
  const std::int64_t rss_before = current_rss_bytes();
  CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  const std::int64_t rss_peak = peak_rss_bytes();
  benchmark::ClearRegisteredBenchmarks();

  // A timing cut short by an interrupt is abandoned (no row); a complete one is kept.
  if (!reporter.error.empty() && interrupt_requested()) throw Interrupted();
  if (!reporter.error.empty()) throw std::runtime_error(reporter.error);
  if (reporter.times_ms.empty()) throw std::runtime_error("the benchmark produced no timings");
  Timing t;
  t.reps = static_cast<int>(reporter.times_ms.size());
  t.median_ms = median_of(reporter.times_ms);
  t.min_ms = *std::min_element(reporter.times_ms.begin(), reporter.times_ms.end());
  t.max_ms = *std::max_element(reporter.times_ms.begin(), reporter.times_ms.end());
  t.rss_delta_bytes = std::max<std::int64_t>(0, rss_peak - rss_before);
  return t;
}

}  // namespace attn::harness
