// The serving shapes: grouped-query heads (H=32 over 8 kv heads, Llama 3 8B) reading a long KV
// cache, at D=64 and 128, 2 threads, fp32, causal.
// - Decode (M=1): bound by reading K and V once; GB/s counts min_bytes (Q, K, V read once, the
//   output written once). Each iteration also sums K and V themselves with the same threads
//   (read_GB/s), and of_read_bw divides the forward's GB/s by that: a ceiling measured on the
//   same bytes within the same second, so the machine's drift between benchmarks cancels.
// - Decode over an int8 or fp8 cache: GB/s counts the codes and scales read; each iteration
//   also runs the fp32 forward over the same values, and x_fp32 is its time over the quantized
//   one's (tokens/s gained, same run), beside the read ceiling of the fp32 bytes.
// - Chunked prefill (M=2048 at the end of N=128K): compute-bound; of_peak divides by the FMA
//   peak of the same run.
#include <cblas.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "attention/core/registry.hpp"
#include "harness/microbench/micro_common.hpp"
#include "harness/microbench/read_stream.hpp"

namespace attn::micro {
namespace {

constexpr int kThreads = 2;
constexpr std::int64_t kHeads = 32, kKvHeads = 8;

// Values in [-1, 1) from a per-element hash, filled in parallel: the 8 GiB cache of N=1M at
// D=128 would take minutes through a sequential generator, and the values do not matter here.
void fill(Tensor& t, std::uint64_t salt) {
  const std::span<float> data = t.data();
  tbb::parallel_for(std::size_t{0}, data.size(), std::size_t{1} << 16, [&](std::size_t begin) {
    const std::size_t end = std::min(data.size(), begin + (std::size_t{1} << 16));
    for (std::size_t i = begin; i < end; ++i) {
      std::uint64_t x = (i + salt) * 0x9E3779B97F4A7C15ull;
      x ^= x >> 29;
      x *= 0xBF58476D1CE4E5B9ull;
      x ^= x >> 32;
      data[i] = static_cast<float>(x >> 40) * 0x1p-23f - 1.0f;
    }
  });
}

void run_serving(benchmark::State& state, const std::string& spec, std::int64_t query_len,
                 Dtype dtype = Dtype::kFp32, KvQuantization kv = KvQuantization::kNone) {
  std::unique_ptr<Variant> variant;
  try {
    variant = make_variant(spec);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  openblas_set_num_threads(1);
  const std::int64_t n = state.range(0), d = state.range(1);
  AttentionShape shape{1, kHeads, kKvHeads, query_len, n, d};
  // The cache's format sets the bytes a step must read (min_bytes, of_read_bw).
  shape.dtype = dtype;
  shape.kv_quantization = kv;
  tbb::task_arena arena(kThreads);
  Tensor q(shape.query_shape()), k(shape.kv_shape()), v(shape.kv_shape()), out(shape.query_shape());
  arena.execute([&] {
    fill(q, 1);
    fill(k, 2);
    fill(v, 3);
  });
  AttentionInputs inputs{q.view(), k.view(), v.view(), true, default_scale(d)};
  Bf16Copies bf16_copies;
  if (dtype == Dtype::kBf16) bf16_copies = make_bf16_inputs(q, k, v, inputs);
  const AttentionInputs fp32_inputs = inputs;  // after quantizing: the same values in fp32
  QuantizedCache quantized;
  if (kv != KvQuantization::kNone)
    arena.execute([&] { quantized = make_quantized_cache(k, v, inputs, kv); });
  const double flops = 4.0 * static_cast<double>(variant->cost(shape, true, kThreads).pairs) *
                       static_cast<double>(d);
  // Q in the dtype, K and V in the cache's format, the output in fp32: min_bytes.
  const auto element = static_cast<double>(dtype_bytes(dtype));
  const double bytes = (element + 4.0) * static_cast<double>(shape.query_shape().elements()) +
                       static_cast<double>(n * shape.kv_token_bytes());
  // The read ceiling: each worker sums a contiguous half of K and of V, as decode streams them.
  const auto read_cache = [&] {
    benchmark::ClobberMemory();
    float sums[kThreads] = {};
    tbb::parallel_for(
        0, kThreads,
        [&](int t) {
          for (const Tensor* x : {&k, &v}) {
            const std::size_t total = x->data().size(), part = total / kThreads;
            const std::size_t begin = part * static_cast<std::size_t>(t);
            sums[t] +=
                sum_stream(x->data().data() + begin, t + 1 == kThreads ? total - begin : part);
          }
        },
        tbb::static_partitioner());
    benchmark::DoNotOptimize(sums);
  };
  const bool memory_bound = query_len <= 16;
  double forward_seconds = 0, read_seconds = 0, fp32_seconds = 0;
  for (auto _ : state) {
    if (kv != KvQuantization::kNone) {
      const auto start = std::chrono::steady_clock::now();
      arena.execute([&] { variant->forward(fp32_inputs, out.mutable_view()); });
      benchmark::ClobberMemory();
      fp32_seconds +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    const auto t0 = std::chrono::steady_clock::now();
    if (memory_bound) arena.execute(read_cache);
    const auto t1 = std::chrono::steady_clock::now();
    arena.execute([&] { variant->forward(inputs, out.mutable_view()); });
    benchmark::ClobberMemory();
    const auto t2 = std::chrono::steady_clock::now();
    const double forward = std::chrono::duration<double>(t2 - t1).count();
    state.SetIterationTime(forward);
    forward_seconds += forward;
    read_seconds += std::chrono::duration<double>(t1 - t0).count();
  }
  const double per_second = static_cast<double>(state.iterations()) / forward_seconds;
  report_flops(state, flops);
  report_bytes(state, bytes);
  if (const double peak = measured_peak_flops(); peak > 0)
    state.counters["of_peak"] = flops * per_second / peak;
  if (memory_bound) {
    const double kv_bytes = 4.0 * 2.0 * static_cast<double>(shape.kv_shape().elements());
    const double read_rate = kv_bytes * static_cast<double>(state.iterations()) / read_seconds;
    state.counters["read_GB/s"] = read_rate / 1e9;
    state.counters["of_read_bw"] = bytes * per_second / read_rate;
  }
  if (kv != KvQuantization::kNone) state.counters["x_fp32"] = fp32_seconds / forward_seconds;
}

void BM_DecodeFlash(benchmark::State& state) { run_serving(state, "flash", 1); }
void BM_DecodeSlidingWindow(benchmark::State& state) {
  run_serving(state, "sliding_window:left=4096,right=0", 1);
}
void BM_ChunkedPrefillFlash(benchmark::State& state) { run_serving(state, "flash", 2048); }
// A bf16 KV cache: half the bytes of the fp32 one, against the same read ceiling (GB/s).
void BM_DecodeFlashBf16(benchmark::State& state) { run_serving(state, "flash", 1, Dtype::kBf16); }
void BM_DecodeFlashFp32(benchmark::State& state) { run_serving(state, "flash", 1); }
// Quantized caches: a quarter of fp32's bytes (int8 adds a 4-byte scale per row), decoded as the
// kernels load them; x_fp32 is the same run's fp32 forward time over this one's.
void BM_DecodeFlashInt8(benchmark::State& state) {
  run_serving(state, "flash", 1, Dtype::kFp32, KvQuantization::kInt8);
}
void BM_DecodeFlashFp8(benchmark::State& state) {
  run_serving(state, "flash", 1, Dtype::kFp32, KvQuantization::kFp8);
}

// {N, D}: the cache from 16K to 1M tokens (1M at D=128 is 8 GiB of K and V).
void decode_sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t d : {64, 128})
    for (std::int64_t n : {4096, 16384, 65536, 262144, 1048576}) b->Args({n, d});
  b->ArgNames({"N", "D"})->UseManualTime()->Unit(benchmark::kMillisecond);
}
BENCHMARK(BM_DecodeFlash)->Apply(decode_sizes);
BENCHMARK(BM_DecodeSlidingWindow)->Apply(decode_sizes);
// fp32 and bf16 side by side at the decode shape (N = 128K and 256K, D = 128).
BENCHMARK(BM_DecodeFlashFp32)
    ->Args({131072, 128})
    ->Args({262144, 128})
    ->ArgNames({"N", "D"})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodeFlashBf16)
    ->Args({131072, 128})
    ->Args({262144, 128})
    ->ArgNames({"N", "D"})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodeFlashInt8)
    ->Args({65536, 128})
    ->Args({262144, 128})
    ->ArgNames({"N", "D"})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodeFlashFp8)
    ->Args({65536, 128})
    ->Args({262144, 128})
    ->ArgNames({"N", "D"})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ChunkedPrefillFlash)
    ->Args({131072, 64})
    ->Args({131072, 128})
    ->ArgNames({"N", "D"})
    ->UseManualTime()
    ->Unit(benchmark::kSecond);

}  // namespace
}  // namespace attn::micro
