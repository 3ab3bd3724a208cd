// The textbook algorithm everyone knows: S = Q·Kᵀ, S *= scale, row softmax, O = S·V, with the
// N×N score matrix materialised. It is the baseline, deliberately not clever: the causal case
// computes the masked half too and is credited only for the pairs it keeps.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <limits>

#include "attention/gemm.hpp"
#include "attention/registry.hpp"
#include "attention/softmax.hpp"

namespace attn {
namespace {

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
    use_single_threaded_blas();
    const AttentionShape s = in.shape();
    const std::int64_t m = s.query_len, n = s.seq_len, d = s.head_dim;
    tbb::parallel_for(std::int64_t{0}, s.problems(), [&](std::int64_t problem) {
      const std::int64_t b = problem / s.heads, h = problem % s.heads;
      // One M×N buffer per concurrently processed head: the memory cost this baseline shows.
      AlignedBuffer<float> scores(static_cast<std::size_t>(checked_product(m, n, "M×N scores")));
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
  std::string kernel(Dtype dtype) const override {
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
    const std::int64_t concurrent = std::min<std::int64_t>(threads, s.problems());
    const std::int64_t matrix = checked_product(s.query_len, s.seq_len, "M×N scores");
    return {checked_product(s.problems(), dense_pairs_per_problem(s, causal), "pairs"),
            checked_product(concurrent, checked_product(matrix, 4, "workspace bytes"),
                            "workspace bytes")};
  }
};

const bool kRegistered = register_variant<Dense>();

}  // namespace
}  // namespace attn
