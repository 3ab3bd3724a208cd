// MoBA, Mixture of Block Attention (Lu et al., 2025): keys are cut into blocks of `block`
// positions; each query scores the blocks by q·mean(K_block) and attends the k best (ties: the
// lower block) plus the block holding its own position. Causal: the candidates are the blocks
// before the query's own, which is causal inside; without --causal every other block is a
// candidate and the own block is attended in full.
// Per query head: the heads of a kv group choose apart, and the engine attends the union of
// their blocks once per group, masking each head and query to its own.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <memory>

#include "attention/block_engine.hpp"
#include "attention/registry.hpp"
#include "attention/selecting_variant.hpp"

namespace attn {
namespace {

constexpr double kMaxBlock = 1 << 20;
constexpr double kMaxBlocks = 1 << 20;
// Queries scored by one GEMM against the block means.
constexpr std::int64_t kQueryChunk = 256;

class Moba final : public SelectingVariant {
 public:
  static VariantInfo info() {
    return {
        "moba",
        "MoBA block attention: each query attends the k key blocks with the largest "
        "q·mean(K_block) among the other (causal: earlier) blocks, plus its own block",
        {{"block", ParamKind::kInteger, 512, 1, kMaxBlock, "keys per block"},
         {"k", ParamKind::kInteger, 3, 0, kMaxBlocks, "blocks each query chooses besides its own"}},
        {"moba:block=16,k=2", "moba:block=7,k=3", "moba:block=64,k=1"}};
  }
  explicit Moba(const VariantConfig& config)
      : SelectingVariant(config), block_(config.integer("block")), k_(config.integer("k")) {}

  bool chooses_per_query() const override { return true; }

  std::shared_ptr<const Selection> select(const AttentionInputs& in) const override {
    const AttentionShape s = in.shape();
    const std::int64_t d = s.head_dim, m = s.query_len, blocks = (s.seq_len + block_ - 1) / block_;
    auto pattern = std::make_unique<KeyBlockPattern>(s, in.causal, block_, 1, k_ + 1);
    std::vector<float> means(static_cast<std::size_t>(s.batch * s.kv_heads * blocks * d));
    tbb::parallel_for(std::int64_t{0}, s.batch * s.kv_heads, [&](std::int64_t bk) {
      block_means(in.k.head(bk / s.kv_heads, bk % s.kv_heads), s.seq_len, d, block_,
                  means.data() + bk * blocks * d);
    });
    const std::int64_t chunks = (m + kQueryChunk - 1) / kQueryChunk;
    tbb::parallel_for(std::int64_t{0}, s.batch * s.heads * chunks, [&](std::int64_t item) {
      const std::int64_t bh = item / chunks, b = bh / s.heads, h = bh % s.heads;
      const std::int64_t i0 = item % chunks * kQueryChunk, rows = std::min(kQueryChunk, m - i0);
      std::vector<float> scores(static_cast<std::size_t>(rows * blocks));
      score_rows(in.q.row(b, h, i0), rows,
                 means.data() + (b * s.kv_heads + s.kv_head(h)) * blocks * d, blocks, d, 1.0f,
                 scores.data(), blocks);
      std::vector<std::int32_t> chosen;
      for (std::int64_t r = 0; r < rows; ++r) {
        const std::int64_t p = s.position(i0 + r), own = p / block_;
        top_k_except(scores.data() + r * blocks, in.causal ? own : blocks, in.causal ? -1 : own, k_,
                     chosen);
        std::int32_t* slots = pattern->blocks(b, h, pattern->group_of(p));
        std::copy(chosen.begin(), chosen.end(), slots);
        slots[chosen.size()] = static_cast<std::int32_t>(own);
      }
    });
    pattern->finish();
    return std::make_shared<PatternSelection>(std::move(pattern), s);
  }

  Cost cost(const AttentionShape& s, bool causal, int threads) const override {
    const std::int64_t per_query = std::min(s.seq_len, (k_ + 1) * block_);
    const std::int64_t per_problem = std::min(checked_product(s.query_len, per_query, "pairs"),
                                              dense_pairs_per_problem(s, causal));
    const std::int64_t blocks = (s.seq_len + block_ - 1) / block_;
    const std::int64_t table = 4 * s.problems() * s.query_len * (k_ + 1);
    const std::int64_t scratch =
        4 * (s.batch * s.kv_heads * blocks * s.head_dim + threads * kQueryChunk * blocks);
    return {checked_product(s.problems(), per_problem, "pairs"),
            block_attention_workspace_bytes(s, threads) + table + scratch};
  }

 private:
  std::int64_t block_, k_;
};

const bool kRegistered = register_variant<Moba>();

}  // namespace
}  // namespace attn
