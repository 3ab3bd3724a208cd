// The engine's kernels against the libraries that could replace them: vectorised exp (the
// engine's own 2^x in Highway ops, Highway's contrib Exp, SLEEF, scalar std::exp left to the
// compiler) and the 64×64×64 tile products (the engine's register-blocked kernels, libxsmm's
// JIT kernels, OpenBLAS, plain loops left to the compiler's auto-vectoriser). One thread.
#include <cblas.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include <hwy/contrib/math/math-inl.h>
#include <hwy/highway.h>

#if defined(ATTN_HAVE_SLEEF) && defined(__AVX2__)
#include <immintrin.h>
#include <sleef.h>
#endif
#if defined(ATTN_HAVE_LIBXSMM)
#include <libxsmm.h>
#endif

#include "attention/core/tensor.hpp"
#include "attention/numeric/microkernel.hpp"
#include "harness/microbench/micro_common.hpp"

namespace attn::micro {
namespace {

namespace hn = hwy::HWY_NAMESPACE;
constexpr std::int64_t kExpCount = 4096;  // one 64×64 score tile

std::vector<float> exp_inputs() {
  std::vector<float> x(kExpCount);
  for (std::int64_t i = 0; i < kExpCount; ++i) x[i] = -20.0f * static_cast<float>(i % 997) / 997;
  return x;
}

void report_elements(benchmark::State& state) {
  state.counters["Gexp/s"] = benchmark::Counter(
      static_cast<double>(kExpCount) * static_cast<double>(state.iterations()) / 1e9,
      benchmark::Counter::kIsRate);
}

void BM_ExpEngine(benchmark::State& state) {
  const std::vector<float> x = exp_inputs();
  std::vector<float> y(kExpCount);
  y = x;
  for (auto _ : state) {
    // In place: 2^x of values in [-20, 1] stays in (0, 2], inside the kernel's domain.
    kernel::exp2_nonpositive(y.data(), kExpCount);
    benchmark::DoNotOptimize(y.data());
  }
  report_elements(state);
}
BENCHMARK(BM_ExpEngine);

void BM_ExpHighway(benchmark::State& state) {
  const std::vector<float> x = exp_inputs();
  std::vector<float> y(kExpCount);
  const hn::ScalableTag<float> df;
  const std::int64_t lanes = static_cast<std::int64_t>(hn::Lanes(df));
  for (auto _ : state) {
    for (std::int64_t i = 0; i < kExpCount; i += lanes)
      hn::StoreU(hn::Exp(df, hn::LoadU(df, x.data() + i)), df, y.data() + i);
    benchmark::DoNotOptimize(y.data());
  }
  report_elements(state);
}
BENCHMARK(BM_ExpHighway);

#if defined(ATTN_HAVE_SLEEF) && defined(__AVX2__)
void BM_ExpSleef(benchmark::State& state) {
  const std::vector<float> x = exp_inputs();
  std::vector<float> y(kExpCount);
  for (auto _ : state) {
    for (std::int64_t i = 0; i < kExpCount; i += 8)
      _mm256_storeu_ps(y.data() + i, Sleef_expf8_u10(_mm256_loadu_ps(x.data() + i)));
    benchmark::DoNotOptimize(y.data());
  }
  report_elements(state);
}
BENCHMARK(BM_ExpSleef);
#endif

void BM_ExpStd(benchmark::State& state) {
  const std::vector<float> x = exp_inputs();
  std::vector<float> y(kExpCount);
  for (auto _ : state) {
    for (std::int64_t i = 0; i < kExpCount; ++i) y[i] = std::exp(x[i]);
    benchmark::DoNotOptimize(y.data());
  }
  report_elements(state);
}
BENCHMARK(BM_ExpStd);

// ---- 64×64×64 tile products: C(64×64) += A(64×64) · B(64×64), row-major, no transposes -------
constexpr std::int64_t kTile = 64;
constexpr double kTileFlops = 2.0 * kTile * kTile * kTile;

struct TileOperands {
  AlignedBuffer<float> a{kTile * kTile}, b{kTile * kTile}, c{kTile * kTile};
  std::vector<float> ones = std::vector<float>(kTile, 1.0f);
  TileOperands() {
    for (std::size_t i = 0; i < a.size(); ++i) {
      a[i] = static_cast<float>(i % 13) * 0.01f;
      b[i] = static_cast<float>(i % 11) * 0.01f;
    }
  }
};

// Scores: s_t(keys × queries) = K(keys × D) · q_t(D × queries), the engine's score_tile.
void BM_TileEngineScores(benchmark::State& state) {
  TileOperands t;
  for (auto _ : state) {
    kernel::score_tile(t.b.data(), kTile, kTile, t.a.data(), kTile, kTile, kTile, t.c.data(),
                       kTile);
    benchmark::DoNotOptimize(t.c.data());
  }
  report_flops(state, kTileFlops);
}
BENCHMARK(BM_TileEngineScores);

// Values: acc(queries × D) += P(queries × keys) · V(keys × D), the engine's accumulate_tile.
void BM_TileEngineValues(benchmark::State& state) {
  TileOperands t;
  for (auto _ : state) {
    kernel::accumulate_tile(t.a.data(), kTile, kTile, kTile, t.ones.data(), t.b.data(), kTile,
                            kTile, t.c.data(), kTile);
    benchmark::DoNotOptimize(t.c.data());
  }
  report_flops(state, kTileFlops);
}
BENCHMARK(BM_TileEngineValues);

void BM_TileOpenBlas(benchmark::State& state) {
  TileOperands t;
  openblas_set_num_threads(1);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, kTile, kTile, kTile, 1.0f, t.a.data(),
                kTile, t.b.data(), kTile, 1.0f, t.c.data(), kTile);
    benchmark::DoNotOptimize(t.c.data());
  }
  report_flops(state, kTileFlops);
  state.SetLabel(openblas_get_corename());
}
BENCHMARK(BM_TileOpenBlas);

// i-k-j loops with restrict: what -O3 -march=native auto-vectorisation gives.
void BM_TileAutoVectorised(benchmark::State& state) {
  TileOperands t;
  for (auto _ : state) {
    const float* __restrict a = t.a.data();
    const float* __restrict b = t.b.data();
    float* __restrict c = t.c.data();
    for (std::int64_t i = 0; i < kTile; ++i)
      for (std::int64_t k = 0; k < kTile; ++k)
        for (std::int64_t j = 0; j < kTile; ++j)
          c[i * kTile + j] += a[i * kTile + k] * b[k * kTile + j];
    benchmark::DoNotOptimize(t.c.data());
  }
  report_flops(state, kTileFlops);
}
BENCHMARK(BM_TileAutoVectorised);

#if defined(ATTN_HAVE_LIBXSMM)
void BM_TileLibxsmm(benchmark::State& state) {
  TileOperands t;
  libxsmm_init();
  // Column-major library: row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ.
  const libxsmm_blasint n = kTile;
  const float alpha = 1.0f, beta = 1.0f;
  const int flags = LIBXSMM_GEMM_FLAG_NONE;
  const libxsmm_smmfunction kernel =
      libxsmm_smmdispatch(n, n, n, &n, &n, &n, &alpha, &beta, &flags, nullptr);
  if (kernel == nullptr) {
    state.SkipWithError("libxsmm has no JIT kernel for this shape");
    return;
  }
  for (auto _ : state) {
    kernel(t.b.data(), t.a.data(), t.c.data());
    benchmark::DoNotOptimize(t.c.data());
  }
  report_flops(state, kTileFlops);
}
BENCHMARK(BM_TileLibxsmm);
#endif

}  // namespace
}  // namespace attn::micro
