// The textbook algorithm everyone knows: S = Q·Kᵀ, S *= scale, row softmax, O = S·V, with the
// N×N score matrix materialised. In bf16 the two products are a library's bf16 GEMM (oneDNN). It is
// the baseline, deliberately not clever: the causal case computes the masked half too and is
// credited only for the pairs it keeps.
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <limits>

#include "attention/core/registry.hpp"
#include "attention/numeric/gemm.hpp"
#include "attention/numeric/softmax.hpp"

#if defined(ATTN_HAVE_ONEDNN)
#include <omp.h>
#include <tbb/task_arena.h>

#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace attn {
namespace {

#if defined(ATTN_HAVE_ONEDNN)
// Whether oneDNN has a bf16 matmul on this CPU: its bf16 kernels need AVX-512 (oneDNN 2.6
// refuses the primitive on an AVX2-only CPU), so the path is chosen by asking it once at run
// time; without it bf16 takes the OpenBLAS path over the bf16 values.
bool onednn_bf16_matmul_available() {
  static const bool available = [] {
    try {
      const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
      const auto half = dnnl::memory::data_type::bf16, f32 = dnnl::memory::data_type::f32;
      const dnnl::memory::desc a({16, 16}, half, dnnl::memory::dims{16, 1});
      const dnnl::memory::desc c({16, 16}, f32, dnnl::memory::dims{16, 1});
      dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, a, c), engine);
      return true;
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return available;
}

// The two products of bf16 attention on oneDNN's matmul (bf16 inputs, fp32 results), one head at
// a time, each product parallel inside on oneDNN's OpenMP threads (as many as the caller's
// arena): the library product the block engine's bf16 kernel is measured against.
void onednn_bf16_forward(const AttentionInputs& in, MutableTensorView out) {
  using dnnl::memory;
  const AttentionShape s = in.shape();
  const std::int64_t m = s.query_len, n = s.seq_len, d = s.head_dim;
  omp_set_num_threads(tbb::this_task_arena::max_concurrency());
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const auto half = memory::data_type::bf16, f32 = memory::data_type::f32;
  const memory::desc q_md({m, d}, half, memory::dims{d, 1});
  const memory::desc kt_md({d, n}, half, memory::dims{1, d});  // Kᵀ: K's rows as columns
  const memory::desc s_md({m, n}, f32, memory::dims{n, 1});
  const memory::desc p_md({m, n}, half, memory::dims{n, 1});
  const memory::desc v_md({n, d}, half, memory::dims{d, 1});
  const memory::desc o_md({m, d}, f32, memory::dims{d, 1});
  dnnl::primitive_attr scaled;
  scaled.set_output_scales(0, {in.scale});
  const dnnl::matmul scores_product(
      dnnl::matmul::primitive_desc(dnnl::matmul::desc(q_md, kt_md, s_md), scaled, engine));
  const dnnl::matmul values_product(
      dnnl::matmul::primitive_desc(dnnl::matmul::desc(p_md, v_md, o_md), engine));
  AlignedBuffer<float> scores(static_cast<std::size_t>(checked_product(m, n, "M×N scores")));
  AlignedBuffer<bf16> probabilities(scores.size());
  const auto wrap = [&](const memory::desc& md, const void* data) {
    return memory(md, engine, const_cast<void*>(data));
  };
  for (std::int64_t problem = 0; problem < s.problems(); ++problem) {
    const std::int64_t b = problem / s.heads, h = problem % s.heads;
    scores_product.execute(stream, {{DNNL_ARG_SRC, wrap(q_md, in.q16.head(b, h))},
                                    {DNNL_ARG_WEIGHTS, wrap(kt_md, in.k16_head(b, h))},
                                    {DNNL_ARG_DST, wrap(s_md, scores.data())}});
    stream.wait();
    tbb::parallel_for(std::int64_t{0}, m, [&](std::int64_t i) {
      float* row = scores.data() + i * n;
      if (in.causal)
        std::fill(row + s.position(i) + 1, row + n, -std::numeric_limits<float>::infinity());
      softmax_rows(row, 1, n, n);
      for (std::int64_t j = 0; j < n; ++j)
        probabilities[static_cast<std::size_t>(i * n + j)] = to_bf16(row[j]);
    });
    values_product.execute(stream, {{DNNL_ARG_SRC, wrap(p_md, probabilities.data())},
                                    {DNNL_ARG_WEIGHTS, wrap(v_md, in.v16_head(b, h))},
                                    {DNNL_ARG_DST, wrap(o_md, out.head(b, h))}});
    stream.wait();
  }
}
#endif

class Dense final : public Variant {
 public:
  static VariantInfo info() {
    return {"dense",
            "textbook attention: Q·Kᵀ, scale, softmax, ·V, the M×N matrix materialised "
            "(OpenBLAS SGEMM, one head per task)",
            {}};
  }
  explicit Dense(const VariantConfig& config) : Variant(config) {}

  void forward(const AttentionInputs& in, MutableTensorView out) const override {
    check_inputs(in, out);
#if defined(ATTN_HAVE_ONEDNN)
    if (in.dtype == Dtype::kBf16 && onednn_bf16_matmul_available())
      return onednn_bf16_forward(in, out);
#endif
    use_single_threaded_blas();
    const AttentionShape s = in.shape();
    const std::int64_t m = s.query_len, n = s.seq_len, d = s.head_dim;
    // One M×N buffer per worker, the memory cost this baseline shows, reused by the heads the
    // worker takes: a fresh buffer per head spent more time faulting in its pages than
    // multiplying at N = 1K (each 4 MiB buffer is mmap'd and unmapped again).
    const auto matrix = static_cast<std::size_t>(checked_product(m, n, "M×N scores"));
    tbb::enumerable_thread_specific<AlignedBuffer<float>> buffers;
    tbb::parallel_for(std::int64_t{0}, s.problems(), [&](std::int64_t problem) {
      const std::int64_t b = problem / s.heads, h = problem % s.heads;
      AlignedBuffer<float>& scores = buffers.local();
      if (scores.size() != matrix) scores = AlignedBuffer<float>(matrix);
      sgemm(true, m, n, d, in.scale, in.q.head(b, h), d, in.k_head(b, h), d, 0.0f, scores.data(),
            n);
      if (in.causal)
        for (std::int64_t i = 0; i < m; ++i)
          for (std::int64_t j = s.position(i) + 1; j < n; ++j)
            scores[i * n + j] = -std::numeric_limits<float>::infinity();
      softmax_rows(scores.data(), m, n, n);
      // bf16: the probabilities enter P·V as bf16, as in the block engine.
      if (in.dtype == Dtype::kBf16)
        for (float& p : scores.span()) p = round_to_bf16(p);
      sgemm(false, m, d, n, 1.0f, scores.data(), n, in.v_head(b, h), d, 0.0f, out.head(b, h), d);
    });
  }

  // bf16 inputs hold bf16 values in their fp32 views too, so SGEMM over those computes exact
  // bf16 products accumulated in fp32: what a bf16 GEMM computes, at fp32's bytes.
  // The textbook baseline multiplies the fp32 copy of a quantized cache's values.
  bool reads_quantized_cache(const AttentionShape&) const override { return false; }

  std::string kernel(Dtype dtype) const override {
#if defined(ATTN_HAVE_ONEDNN)
    if (dtype == Dtype::kBf16 && onednn_bf16_matmul_available()) return "onednn_bf16";
#endif
    return dtype == Dtype::kBf16 ? "openblas_sgemm_widened" : "openblas_sgemm";
  }

  void keys(const AttentionInputs& in, std::int64_t, std::int64_t, std::int64_t query,
            std::vector<std::int64_t>& out) const override {
    const AttentionShape s = in.shape();
    const std::int64_t end = in.causal ? s.position(query) + 1 : s.seq_len;
    out.clear();
    for (std::int64_t k = 0; k < end; ++k) out.push_back(k);
  }

  Cost cost(const AttentionShape& s, bool causal, int threads) const override {
    std::int64_t concurrent = std::min<std::int64_t>(threads, s.problems());
    std::int64_t bytes_per_pair = 4;
    const std::int64_t matrix = checked_product(s.query_len, s.seq_len, "M×N scores");
#if defined(ATTN_HAVE_ONEDNN)
    // One head at a time: fp32 scores and their bf16 probabilities.
    if (s.dtype == Dtype::kBf16 && onednn_bf16_matmul_available())
      concurrent = 1, bytes_per_pair = 6;
#endif
    return {checked_product(s.problems(), dense_pairs_per_problem(s, causal), "pairs"),
            checked_product(concurrent, checked_product(matrix, bytes_per_pair, "workspace bytes"),
                            "workspace bytes")};
  }
};

const bool kRegistered = register_variant<Dense>();

}  // namespace
}  // namespace attn
