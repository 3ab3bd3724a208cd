// Oracle top-k attention (the oracle of sparse-attention-hub and of the sparse-frontier
// comparisons): each query attends the k keys with the largest true scores q·k_j (ties: the
// lower index), among j <= p when causal. It scores every pair to choose, so it is no fast
// method: it is the upper bound on accuracy of any method that keeps k keys per query, the
// frontier the query-aware methods are compared against at matched density.
// Per query head. k >= the keys a query sees is full attention.
#include <algorithm>
#include <memory>

#include "attention/bases/gathered_attention.hpp"
#include "attention/bases/selecting_variant.hpp"
#include "attention/core/registry.hpp"

namespace attn {
namespace {

constexpr double kMaxK = 1 << 30;
// Queries scored by one GEMM against every key they may see.
constexpr std::int64_t kQueryChunk = 64;

class TopK final : public SelectingVariant {
 public:
  static VariantInfo info() {
    return {"topk",
            "oracle top-k: each query attends its k keys with the largest true scores (ties: "
            "the lower index; causal among j <= p); scores every pair, an accuracy bound",
            {{"k", ParamKind::kInteger, 256, 1, kMaxK, "keys per query"}},
            {"topk:k=1", "topk:k=17", "topk:k=100"}};
  }
  explicit TopK(const VariantConfig& config) : SelectingVariant(config), k_(config.integer("k")) {}

  bool chooses_per_query() const override { return true; }

  std::shared_ptr<const Selection> select(const AttentionInputs& in) const override {
    return choose_keys_by_score(in, kQueryChunk, [this] {
      return [this, bits = std::vector<std::uint32_t>()](const float* row, std::int64_t visible,
                                                         std::vector<std::int32_t>& keys) mutable {
        top_k_keys(row, visible, k_, bits, keys);
      };
    });
  }

  Cost cost(const AttentionShape& s, bool causal, int threads) const override {
    // Query p sees min(k, p + 1) keys causally, min(k, N) otherwise.
    const std::int64_t per_problem =
        causal ? sum_of_capped(s.first_position() + 1, s.seq_len + 1, k_)
               : checked_product(s.query_len, std::min(k_, s.seq_len), "pairs");
    // The lists (a vector per query), and per thread a chunk's scores and their copy.
    const std::int64_t lists =
        checked_product(s.problems(), 4 * per_problem + 24 * s.query_len, "bytes");
    const std::int64_t scores = threads * 4 * (kQueryChunk + 1) * s.seq_len;
    return {checked_product(s.problems(), per_problem, "pairs"),
            lists + scores + gathered_attention_workspace_bytes(s, threads, k_)};
  }

 private:
  std::int64_t k_;
};

const bool kRegistered = register_variant<TopK>();

}  // namespace
}  // namespace attn
