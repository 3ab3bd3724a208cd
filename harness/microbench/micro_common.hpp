#pragma once

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>

namespace attn::micro {

// The 2-thread FMA peak (FLOP/s) measured earlier in this run, 0 until then; the engine
// benchmarks report their share of it, so the ratio comes from one run on one machine state.
inline std::atomic<double>& measured_peak_flops() {
  static std::atomic<double> peak{0.0};
  return peak;
}

// The 2-thread bf16 dot-product peak (FLOP/s: 2 per bf16 product) measured earlier in this run,
// 0 until then or where the CPU has no AVX512_BF16: the ceiling of the engine's bf16 kernel.
inline std::atomic<double>& measured_bf16_peak_flops() {
  static std::atomic<double> peak{0.0};
  return peak;
}

// The 2-thread AMX-BF16 tile peak (FLOP/s) measured earlier in this run, 0 until then or where
// the CPU has no AMX: the ceiling of the engine's bf16 kernel on the avx512+amx path.
inline std::atomic<double>& measured_amx_peak_flops() {
  static std::atomic<double> peak{0.0};
  return peak;
}

// The 2-thread read-only streaming bandwidth (bytes/s) measured earlier in this run, 0 until
// then: the ceiling of decode, which reads the KV cache once.
inline std::atomic<double>& measured_read_bandwidth() {
  static std::atomic<double> bandwidth{0.0};
  return bandwidth;
}

// GFLOP/s as a rate counter: total flops over the run's real time.
inline void report_flops(benchmark::State& state, double flops_per_iteration) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops_per_iteration * static_cast<double>(state.iterations()) / 1e9,
                         benchmark::Counter::kIsRate);
}

// GB/s as a rate counter: total bytes over the run's real time (summed over threads).
inline void report_bytes(benchmark::State& state, double bytes_per_iteration) {
  state.counters["GB/s"] =
      benchmark::Counter(bytes_per_iteration * static_cast<double>(state.iterations()) / 1e9,
                         benchmark::Counter::kIsRate);
}

}  // namespace attn::micro
