// MoBA, Mixture of Block Attention (Lu et al., 2025): keys are cut into blocks of `block`
// positions; each query scores the blocks by q·mean(K_block) and attends the k best (ties: the
// lower block) plus the block holding its own position. Causal: the candidates are the blocks
// before the query's own, which is causal inside; without --causal every other block is a
// candidate and the own block is attended in full.
// Per query head: the heads of a kv group choose apart, and the engine attends the union of
// their blocks once per group, masking each head and query to its own.
#include <memory>
#include <vector>

#include "attention/bases/block_choice.hpp"
#include "attention/bases/block_summary_variant.hpp"
#include "attention/core/registry.hpp"

namespace attn {
namespace {

constexpr double kMaxBlock = 1 << 20;
constexpr double kMaxBlocks = 1 << 20;
// Queries scored by one GEMM against the block means.
constexpr std::int64_t kQueryChunk = 256;

class Moba final : public BlockSummaryVariant {
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
      : BlockSummaryVariant(config, KeyBlockSummaries::Kind::kSum, config.integer("block")),
        choice_{config.integer("block"), 1, config.integer("k"), kQueryChunk} {}

  bool chooses_per_query() const override { return true; }

  std::shared_ptr<const Selection> select_from_summaries(
      const AttentionInputs& in, const KeyBlockSummaries& sums) const override {
    const AttentionShape s = in.shape();
    return choose_key_blocks(
        in, choice_,
        [&](std::int64_t b, std::int64_t h, std::int64_t i0, std::int64_t rows, float* scores) {
          score_key_block_means(in.q.row(b, h, i0), rows, sums, b, s.kv_head(h), scores);
        });
  }

  Cost cost(const AttentionShape& s, bool causal, int threads) const override {
    const std::int64_t blocks = choice_.key_blocks(s.seq_len);
    // The block sums kept with the cache, and each task's scores.
    const std::int64_t scratch =
        4 * (s.batch * s.kv_heads * blocks * s.head_dim + threads * kQueryChunk * blocks);
    return block_choice_cost(s, causal, threads, choice_, scratch);
  }

 private:
  BlockChoice choice_;
};

const bool kRegistered = register_variant<Moba>();

}  // namespace
}  // namespace attn
