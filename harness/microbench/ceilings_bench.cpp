// The machine's ceilings: the FP32 FMA peak, the bf16 dot-product peak, the AMX-BF16 tile peak,
// OpenBLAS SGEMM at the attention shapes, and the memory bandwidth of a streaming triad, of a
// read-only stream (decode's ceiling) and of random 256-byte rows (LSH's gathers).
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

#include <hwy/highway.h>
#include <immintrin.h>

#include "attention/core/tensor.hpp"
#include "attention/numeric/amx_tiles.hpp"
#include "harness/microbench/micro_common.hpp"
#include "harness/microbench/random_rows.hpp"
#include "harness/microbench/read_stream.hpp"

namespace attn::micro {
namespace {

namespace hn = hwy::HWY_NAMESPACE;

// Enough independent accumulators to cover FMA latency × FMA ports (4 × 2 on Zen 3 and on
// Intel cores), in the widest registers of the build (AVX2 ymm here).
constexpr int kAccumulators = 12;
constexpr int kInnerSteps = 1024;

void BM_FmaPeak(benchmark::State& state) {
  const hn::ScalableTag<float> df;
  const double lanes = static_cast<double>(hn::Lanes(df));
  hn::Vec<decltype(df)> acc[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i) acc[i] = hn::Set(df, 0.001f * static_cast<float>(i));
  auto x = hn::Set(df, 0.999999f);
  auto y = hn::Set(df, 1e-7f);
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    for (int step = 0; step < kInnerSteps; ++step) {
      for (int i = 0; i < kAccumulators; ++i) acc[i] = hn::MulAdd(acc[i], x, y);
    }
    // Every lane of every accumulator stays live in its register (no narrowing, no stores).
    for (int i = 0; i < kAccumulators; ++i) asm volatile("" : "+x"(acc[i].raw));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  float sink = 0;
  for (int i = 0; i < kAccumulators; ++i) sink += hn::GetLane(acc[i]);
  benchmark::DoNotOptimize(sink);
  const double flops = 2.0 * lanes * kAccumulators * kInnerSteps;
  report_flops(state, flops);
  if (state.thread_index() == 0 && state.threads() == 2)
    measured_peak_flops() = flops * static_cast<double>(state.iterations()) / seconds * 2.0;
}
BENCHMARK(BM_FmaPeak)->Threads(1)->Threads(2)->UseRealTime();

#if defined(__AVX512BF16__)
// VDPBF16PS on zmm registers: 32 bf16 products summed pairwise into 16 fp32 lanes per
// instruction, in as many independent chains as the FMA peak. On Zen 4 it issues on both FMA
// pipes (2x the FP32 rate); on Intel cores it may issue on one port where FP32 FMA has two.
void BM_Bf16DotPeak(benchmark::State& state) {
  __m512 acc[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm512_set1_ps(0.001f * static_cast<float>(i));
  const __m512bh x = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.999f), _mm512_set1_ps(0.999f));
  const __m512bh y = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-7f), _mm512_set1_ps(1e-7f));
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    for (int step = 0; step < kInnerSteps; ++step) {
      for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], x, y);
    }
    for (int i = 0; i < kAccumulators; ++i) asm volatile("" : "+v"(acc[i]));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  float sink = 0;
  for (int i = 0; i < kAccumulators; ++i) sink += _mm512_reduce_add_ps(acc[i]);
  benchmark::DoNotOptimize(sink);
  const double flops = 2.0 * 32 * kAccumulators * kInnerSteps;
  report_flops(state, flops);
  if (state.thread_index() == 0 && state.threads() == 2)
    measured_bf16_peak_flops() = flops * static_cast<double>(state.iterations()) / seconds * 2.0;
}
BENCHMARK(BM_Bf16DotPeak)->Threads(1)->Threads(2)->UseRealTime();
#endif

#if defined(__AMX_TILE__) && defined(__AMX_BF16__)
// TDPBF16PS on four independent 16 × 16 sums from four operand tiles held in registers: 16 × 16
// × 32 bf16 products per instruction, the AMX unit's own ceiling, which the engine's AMX path
// (attention/numeric/amx_tiles.hpp) shares with its fp32 softmax and packing.
void BM_AmxBf16Peak(benchmark::State& state) {
  if (!kernel::amx_usable()) {
    state.SkipWithError("no AMX-BF16 tiles on this CPU or operating system");
    return;
  }
  kernel::configure_amx_tiles();  // every tile 16 rows of 64 bytes
  alignas(64) static const std::uint16_t ones[16 * 32] = {};
  _tile_loadd(4, ones, 64);
  _tile_loadd(5, ones, 64);
  _tile_loadd(6, ones, 64);
  _tile_loadd(7, ones, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  constexpr int kSteps = 256;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    for (int step = 0; step < kSteps; ++step) {
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  alignas(64) float sums[16 * 16];
  _tile_stored(0, sums, 64);
  benchmark::DoNotOptimize(sums[0]);
  _tile_release();
  const double flops = 2.0 * 16 * 16 * 32 * 4 * kSteps;
  report_flops(state, flops);
  if (state.thread_index() == 0 && state.threads() == 2)
    measured_amx_peak_flops() = flops * static_cast<double>(state.iterations()) / seconds * 2.0;
}
BENCHMARK(BM_AmxBf16Peak)->Threads(1)->Threads(2)->UseRealTime();
#endif

// C = A·op(B) with OpenBLAS's own threading at 2 threads, as the textbook variant would use it.
void BM_OpenBlasSgemm(benchmark::State& state) {
  const std::int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const bool trans_b = state.range(3) != 0;
  openblas_set_num_threads(2);
  AlignedBuffer<float> a(static_cast<std::size_t>(m * k)), b(static_cast<std::size_t>(k * n)),
      c(static_cast<std::size_t>(m * n));
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i % 7) * 0.01f;
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i % 5) * 0.01f;
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), 1.0f,
                a.data(), static_cast<blasint>(k), b.data(), static_cast<blasint>(trans_b ? k : n),
                0.0f, c.data(), static_cast<blasint>(n));
    benchmark::ClobberMemory();
  }
  report_flops(state,
               2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k));
  state.SetLabel(openblas_get_corename());
  openblas_set_num_threads(1);
}
// {m, n, k, trans_b}: S = Q·Kᵀ (4096×4096×64), O = P·V (4096×64×4096), and the square 4096³.
BENCHMARK(BM_OpenBlasSgemm)
    ->Args({4096, 4096, 64, 1})
    ->Args({4096, 64, 4096, 0})
    ->Args({4096, 4096, 4096, 0})
    ->ArgNames({"m", "n", "k", "transB"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Floats per array and thread: 128 MiB, far beyond the last-level cache.
constexpr std::size_t kStreamFloats = std::size_t{32} << 20;

// a = b + s·c over arrays private to each thread, counted as STREAM does (3 arrays, no
// write-allocate traffic): the sequential ceiling.
void BM_MemoryTriad(benchmark::State& state) {
  AlignedBuffer<float> a(kStreamFloats), b(kStreamFloats), c(kStreamFloats);
  std::fill_n(a.data(), a.size(), 0.0f);
  std::fill_n(b.data(), b.size(), 1.0f);
  std::fill_n(c.data(), c.size(), 2.0f);
  for (auto _ : state) {
    for (std::size_t i = 0; i < kStreamFloats; ++i) a[i] = b[i] + 0.5f * c[i];
    benchmark::ClobberMemory();
  }
  report_bytes(state, 3.0 * sizeof(float) * static_cast<double>(kStreamFloats));
}
BENCHMARK(BM_MemoryTriad)->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);

// Floats each thread sums in the read-only benchmark: 512 MiB.
constexpr std::size_t kReadFloats = std::size_t{128} << 20;

// Each thread sums its own 512 MiB array: a pure read stream, what decode does with the KV
// cache.
void BM_MemoryReadOnly(benchmark::State& state) {
  AlignedBuffer<float> a(kReadFloats);
  std::fill_n(a.data(), a.size(), 1.0f);
  float sink = 0;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    // The array is "changed" before each pass, so the sum cannot be hoisted out of the loop.
    benchmark::ClobberMemory();
    sink += sum_stream(a.data(), kReadFloats);
    benchmark::DoNotOptimize(sink);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  benchmark::DoNotOptimize(sink);
  const double bytes = static_cast<double>(kReadFloats * sizeof(float));
  report_bytes(state, bytes);
  if (state.thread_index() == 0 && state.threads() == 2)
    measured_read_bandwidth() = bytes * static_cast<double>(state.iterations()) / seconds * 2.0;
}
BENCHMARK(BM_MemoryReadOnly)->Threads(1)->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);

// Rows of 256 bytes (D = 64 floats) of a private array copied in a random order: the ceiling
// of LSH's gathers (copy_rows_in_order).
void BM_MemoryRandomRows(benchmark::State& state) {
  constexpr std::size_t kRowFloats = 64, kRingRows = 64;
  const std::size_t rows = kStreamFloats / kRowFloats;
  AlignedBuffer<float> source(kStreamFloats), ring(kRingRows * kRowFloats);
  std::fill_n(source.data(), source.size(), 1.0f);
  std::vector<const float*> order(rows);
  for (std::size_t i = 0; i < rows; ++i) order[i] = source.data() + i * kRowFloats;
  std::shuffle(order.begin(), order.end(),
               std::mt19937(static_cast<unsigned>(state.thread_index())));
  for (auto _ : state) {
    copy_rows_in_order(order, kRowFloats, ring.data(), kRingRows);
    benchmark::ClobberMemory();
  }
  report_bytes(state, static_cast<double>(kStreamFloats * sizeof(float)));
}
BENCHMARK(BM_MemoryRandomRows)->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace attn::micro
