// Block-sparse attention by block scores (MInference's block-sparse pattern, Jiang et al. 2024;
// the selection branch of NSA, Yuan et al. 2025): queries and keys are cut into blocks of
// `block` absolute positions; query block i scores key block j by mean(Q_i)·mean(K_j) (the
// means over the block's queries present in this call, and over its keys) and attends the k key
// blocks with the largest scores (ties: the lower block) plus its diagonal block i. Causal: the
// candidates are the blocks before i, and the diagonal block is causal inside. Without
// --causal every block but i is a candidate.
// Per query head: the heads of a kv group choose apart, and the engine attends the union of
// their blocks once per group, masking each head to its own.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <memory>
#include <string>

#include "attention/block_engine.hpp"
#include "attention/registry.hpp"
#include "attention/selecting_variant.hpp"

namespace attn {
namespace {

constexpr double kMaxBlock = 1 << 16;
constexpr double kMaxBlocks = 1 << 20;

class BlockTopK final : public SelectingVariant {
 public:
  static VariantInfo info() {
    return {"block_topk",
            "block-sparse by block scores (MInference, NSA selection): per query block, the k key "
            "blocks with the largest mean(Q_block)·mean(K_block), plus the diagonal block",
            {{"block", ParamKind::kInteger, 64, 1, kMaxBlock, "queries and keys per block"},
             {"k", ParamKind::kInteger, 8, 0, kMaxBlocks,
              "key blocks chosen per query block besides the diagonal one"}},
            {"block_topk:block=16,k=2", "block_topk:block=7,k=3", "block_topk:block=64,k=0"}};
  }
  explicit BlockTopK(const VariantConfig& config)
      : SelectingVariant(config), block_(config.integer("block")), k_(config.integer("k")) {}

  bool chooses_per_query() const override { return false; }

  std::shared_ptr<const Selection> select(const AttentionInputs& in) const override {
    const AttentionShape s = in.shape();
    const std::int64_t d = s.head_dim, n = s.seq_len, key_blocks = (n + block_ - 1) / block_;
    auto pattern = std::make_unique<KeyBlockPattern>(s, in.causal, block_, block_, k_ + 1);
    const std::int64_t groups = pattern->groups();
    std::vector<float> key_means(static_cast<std::size_t>(s.batch * s.kv_heads * key_blocks * d));
    tbb::parallel_for(std::int64_t{0}, s.batch * s.kv_heads, [&](std::int64_t bk) {
      block_means(in.k.head(bk / s.kv_heads, bk % s.kv_heads), n, d, block_,
                  key_means.data() + bk * key_blocks * d);
    });
    tbb::parallel_for(std::int64_t{0}, s.batch * s.heads, [&](std::int64_t bh) {
      const std::int64_t b = bh / s.heads, h = bh % s.heads;
      // Query block g holds positions [(g + first) · block, ...) ∩ the queries of this call.
      const std::int64_t first = s.first_position() / block_;
      std::vector<float> query_means(static_cast<std::size_t>(groups * d));
      for (std::int64_t g = 0; g < groups; ++g) {
        const std::int64_t lo = std::max((g + first) * block_, s.first_position());
        const std::int64_t hi = std::min((g + first + 1) * block_, n);
        block_means(in.q.row(b, h, lo - s.first_position()), hi - lo, d, hi - lo,
                    query_means.data() + g * d);
      }
      std::vector<float> scores(static_cast<std::size_t>(groups * key_blocks));
      score_rows(query_means.data(), groups,
                 key_means.data() + (b * s.kv_heads + s.kv_head(h)) * key_blocks * d, key_blocks, d,
                 1.0f, scores.data(), key_blocks);
      std::vector<std::int32_t> chosen;
      for (std::int64_t g = 0; g < groups; ++g) {
        const std::int64_t own = g + first;
        top_k_except(scores.data() + g * key_blocks, in.causal ? own : key_blocks,
                     in.causal ? -1 : own, k_, chosen);
        std::int32_t* slots = pattern->blocks(b, h, g);
        std::copy(chosen.begin(), chosen.end(), slots);
        slots[chosen.size()] = static_cast<std::int32_t>(own);
      }
    });
    pattern->finish();
    return std::make_shared<PatternSelection>(std::move(pattern), s);
  }

  Cost cost(const AttentionShape& s, bool causal, int threads) const override {
    // At most k + 1 blocks per query (exact counts come from pairs(inputs)).
    const std::int64_t per_query = std::min(s.seq_len, (k_ + 1) * block_);
    const std::int64_t per_problem = std::min(checked_product(s.query_len, per_query, "pairs"),
                                              dense_pairs_per_problem(s, causal));
    const std::int64_t key_blocks = (s.seq_len + block_ - 1) / block_;
    const std::int64_t groups = (s.query_len + 2 * block_ - 2) / block_;
    const std::int64_t table = 4 * s.problems() * groups * (k_ + 1);
    const std::int64_t means = 4 * (s.batch * s.kv_heads * key_blocks * s.head_dim +
                                    threads * groups * (s.head_dim + key_blocks + k_ + 1));
    return {checked_product(s.problems(), per_problem, "pairs"),
            block_attention_workspace_bytes(s, threads, block_) + table + means};
  }

 private:
  std::int64_t block_, k_;
};

const bool kRegistered = register_variant<BlockTopK>();

}  // namespace
}  // namespace attn
