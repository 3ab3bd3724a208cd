#pragma once

#include <gtest/gtest.h>
#include <tbb/task_arena.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "attention/core/variant.hpp"
#include "attention/numeric/microkernel.hpp"
#include "attention/reference/reference.hpp"

namespace attn::testing {

// Q, K, V filled with uniform values in [-2, 2): wide enough that softmax is far from uniform.
// Q is [B, H, M, D], K and V [B, kv_heads, N, D]. In bf16 the values are rounded to bf16 (the
// fp32 tensors then hold the rounded values, which is what the fp64 reference reads). With a
// quantized cache K and V are quantized likewise (fp8's scales from the first `scale_rows` rows,
// all when 0), and the fp32 tensors hold the values the codes stand for.
inline constexpr float kRandomInputBound = 2.0f;
struct RandomInputs {
  RandomInputs(const AttentionShape& shape, bool causal, std::uint32_t seed = 1,
               Dtype dtype = Dtype::kFp32, KvQuantization kv = KvQuantization::kNone,
               std::int64_t scale_rows = 0)
      : q(shape.query_shape()), k(shape.kv_shape()), v(shape.kv_shape()) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<float> dist(-kRandomInputBound, kRandomInputBound);
    for (Tensor* t : {&q, &k, &v})
      for (float& x : t->data()) x = dist(gen);
    inputs = {q.view(), k.view(), v.view(), causal, default_scale(shape.head_dim)};
    if (dtype == Dtype::kBf16) bf16 = make_bf16_inputs(q, k, v, inputs);
    if (kv != KvQuantization::kNone) quantized = make_quantized_cache(k, v, inputs, kv, scale_rows);
  }
  Tensor q, k, v;
  Bf16Copies bf16;
  QuantizedCache quantized;
  AttentionInputs inputs;
};

// The precisions every variant is checked in: the two forward dtypes over their own caches, and
// the quantized caches under an fp32 forward.
struct Precision {
  Dtype dtype = Dtype::kFp32;
  KvQuantization kv = KvQuantization::kNone;
  std::string name() const {
    return kv == KvQuantization::kNone ? std::string(dtype_name(dtype))
                                       : std::string(kv_quantization_name(kv)) + " cache";
  }
};
inline std::vector<Precision> quantized_caches() {
  return {{Dtype::kFp32, KvQuantization::kInt8}, {Dtype::kFp32, KvQuantization::kFp8}};
}

// The largest error a forward may have against fp64 attention over its own keys on the same
// (rounded) inputs. fp32: the suite's fp32 tolerance. bf16: scores are exact bf16 products
// summed in fp32 and the softmax is fp32, so the error is the rounding of each probability to
// bf16 before P·V, relative error at most u = 2^-8 (bf16's unit roundoff, 8 significant bits),
// which moves the output by at most u · max|v|; fp32 sums over the row's n keys and head_dim
// products add at most (n + head_dim) · 2^-24 relative, doubled for the score's own error.
inline double forward_tolerance(Dtype dtype, std::int64_t seq_len, std::int64_t head_dim,
                                double max_abs_v = kRandomInputBound) {
  if (dtype == Dtype::kFp32) return 3e-5;
  const double u_bf16 = 0x1p-8, u_fp32 = 0x1p-24;
  return (u_bf16 + 2.0 * static_cast<double>(seq_len + head_dim) * u_fp32) * max_abs_v;
}

// Runs `variant` with `threads` workers and returns the output.
inline Tensor run_forward(const Variant& variant, const AttentionInputs& inputs, int threads) {
  Tensor out(inputs.shape().query_shape());
  tbb::task_arena arena(threads);
  arena.execute([&] { variant.forward(inputs, out.mutable_view()); });
  return out;
}

// True in a ThreadSanitizer build (GCC defines the macro, clang has the feature test).
#if defined(__SANITIZE_THREAD__)
inline constexpr bool kThreadSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool kThreadSanitizer = true;
#else
inline constexpr bool kThreadSanitizer = false;
#endif
#else
inline constexpr bool kThreadSanitizer = false;
#endif

// True in an AddressSanitizer build, likewise.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif

// Whether a registry case of this many keys runs in this build. The sanitizer runs skip the
// cases of N >= 1000 but the decode ones (instrumented fp64 references over a million pairs per
// head were two thirds of their time): the paths those cases take (the engine's blocks, the
// gathers, the split decode of N = 4099) are all taken at the smaller N, and the Release run
// checks every case.
inline bool runs_registry_case(std::int64_t seq_len, std::int64_t query_len) {
  return !(kAddressSanitizer || kThreadSanitizer) || seq_len < 1000 || query_len <= 8;
}

// Whether this run repeats the Release run's checks on a kernel path forced by ATTN_KERNEL_PATH
// (the scalar run in tests/CMakeLists.txt): it tests the path's arithmetic, which neither the
// worker count nor which dtype a case is checked in changes, so it checks less of each.
inline bool repeats_on_forced_path() { return kernel::path_forced(); }

// The worker counts a forward is checked at. Under ThreadSanitizer a one-worker forward has
// nothing to race with (the Release and ASan runs check its arithmetic), so TSan runs the
// threaded one alone, as does a forced kernel path (the threads split work, not arithmetic).
inline std::vector<int> checked_thread_counts() {
  if (kThreadSanitizer || repeats_on_forced_path()) return {2};
  return {1, 2};
}

// The dtypes a registry case is checked in (`index`: the case's number). Under ThreadSanitizer and
// on a forced kernel path one of them, alternating from case to case: a bf16 forward divides its
// work between the workers as the fp32 one does, and takes the same kernels for every shape, so
// half of each test's cases still check its paths (they were half the TSan step's time, and the
// scalar run's), and the Release and ASan runs check every case in every dtype.
inline std::vector<Dtype> checked_dtypes(std::size_t index) {
  const std::vector<Dtype>& all = all_dtypes();
  if (!kThreadSanitizer && !repeats_on_forced_path()) return all;
  return {all[index % all.size()]};
}

// Every query row is checked against fp64, except under ThreadSanitizer: there every third row
// and each head's last (its instrumented keys() calls, not the threaded forward, took most of
// the time; the Release and ASan runs check every row of the same cases).
inline bool checked_row(std::int64_t row, std::int64_t rows) {
  return !kThreadSanitizer || row % 3 == 0 || row == rows - 1;
}

// fp64 attention of every checked row over the variant's own terms (its key set), [B, H, M, D]
// flat, NaN in rows not checked: the correctness contract of every variant. Computed once per
// inputs and compared with the forward at each thread count (it costs far more than the forward).
inline std::vector<double> reference_over_own_keys(const Variant& variant,
                                                   const AttentionInputs& inputs) {
  const AttentionShape s = inputs.shape();
  std::vector<AttentionTerm> terms;
  std::vector<double> want(static_cast<std::size_t>(s.batch * s.heads * s.query_len * s.head_dim),
                           std::numeric_limits<double>::quiet_NaN());
  std::size_t at = 0;
  for (std::int64_t b = 0; b < s.batch; ++b)
    for (std::int64_t h = 0; h < s.heads; ++h)
      for (std::int64_t i = 0; i < s.query_len; ++i, at += static_cast<std::size_t>(s.head_dim)) {
        if (!checked_row(i, s.query_len)) continue;
        variant.terms(inputs, b, h, i, terms);
        reference_terms(inputs, b, h, i, terms,
                        std::span<double>(want).subspan(at, static_cast<std::size_t>(s.head_dim)));
      }
  return want;
}

// Largest |out - want| over the checked elements (want from reference_over_own_keys); a NaN in
// out where want is checked counts as infinitely wrong.
inline double max_error(const std::vector<double>& want, const Tensor& out) {
  double worst = 0;
  const auto got = out.data();
  for (std::size_t e = 0; e < want.size(); ++e) {
    if (std::isnan(want[e])) continue;
    const double error = std::abs(static_cast<double>(got[e]) - want[e]);
    worst = std::isnan(error) ? std::numeric_limits<double>::infinity() : std::max(worst, error);
    if (std::isinf(worst)) return worst;
  }
  return worst;
}

inline double max_error_vs_reference(const Variant& variant, const AttentionInputs& inputs,
                                     const Tensor& out) {
  return max_error(reference_over_own_keys(variant, inputs), out);
}

// A fresh folder per test (by process and test name), so tests never see each other's files.
inline std::string temp_dir() {
  namespace fs = std::filesystem;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::temp_directory_path() /
                       ("attnbench_test_" + std::to_string(::getpid())) /
                       (std::string(info->test_suite_name()) + "." + info->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

}  // namespace attn::testing
