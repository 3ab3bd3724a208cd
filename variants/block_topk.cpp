// Block-sparse attention by block scores (MInference's block-sparse pattern, Jiang et al. 2024;
// the selection branch of NSA, Yuan et al. 2025): queries and keys are cut into blocks of
// `block` absolute positions; query block i scores key block j by mean(Q_i)·mean(K_j) (the
// means over the block's queries present in this call, and over its keys) and attends the k key
// blocks with the largest scores (ties: the lower block) plus its diagonal block i. Causal: the
// candidates are the blocks before i, and the diagonal block is causal inside. Without
// --causal every block but i is a candidate.
// Per query head: the heads of a kv group choose apart, and the engine attends the union of
// their blocks once per group, masking each head to its own.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "attention/bases/block_choice.hpp"
#include "attention/bases/block_summary_variant.hpp"
#include "attention/core/registry.hpp"

namespace attn {
namespace {

constexpr double kMaxBlock = 1 << 16;
constexpr double kMaxBlocks = 1 << 20;

class BlockTopK final : public BlockSummaryVariant {
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
      : BlockSummaryVariant(config, KeyBlockSummaries::Kind::kSum, config.integer("block")),
        choice_{config.integer("block"), config.integer("block"), config.integer("k"),
                BlockChoice::kAllGroups} {}

  bool chooses_per_query() const override { return false; }

  std::shared_ptr<const Selection> select_from_summaries(
      const AttentionInputs& in, const KeyBlockSummaries& sums) const override {
    const AttentionShape s = in.shape();
    const std::int64_t d = s.head_dim, n = s.seq_len, block = choice_.key_block;
    // Query block g holds positions [(g + first) · block, ...) ∩ the queries of this call.
    const std::int64_t first = s.first_position() / block;
    return choose_key_blocks(
        in, choice_,
        [&](std::int64_t b, std::int64_t h, std::int64_t g0, std::int64_t groups, float* scores) {
          std::vector<float> query_means(static_cast<std::size_t>(groups * d));
          for (std::int64_t g = g0; g < g0 + groups; ++g) {
            const std::int64_t lo = std::max((g + first) * block, s.first_position());
            const std::int64_t hi = std::min((g + first + 1) * block, n);
            block_means(in.q.row(b, h, lo - s.first_position()), hi - lo, d, hi - lo,
                        query_means.data() + (g - g0) * d);
          }
          score_key_block_means(query_means.data(), groups, sums, b, s.kv_head(h), scores);
        });
  }

  Cost cost(const AttentionShape& s, bool causal, int threads) const override {
    const std::int64_t k = choice_.k, key_blocks = choice_.key_blocks(s.seq_len);
    const std::int64_t groups = choice_.max_groups(s.query_len);
    const std::int64_t means = 4 * (s.batch * s.kv_heads * key_blocks * s.head_dim +
                                    threads * groups * (s.head_dim + key_blocks + k + 1));
    return block_choice_cost(s, causal, threads, choice_, means);
  }

 private:
  BlockChoice choice_;
};

const bool kRegistered = register_variant<BlockTopK>();

}  // namespace
}  // namespace attn
