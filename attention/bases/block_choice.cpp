#include "attention/bases/block_choice.hpp"

#include <algorithm>

#include "attention/engine/block_engine.hpp"

namespace attn {

Cost block_choice_cost(const AttentionShape& s, bool causal, int threads, const BlockChoice& choice,
                       std::int64_t scratch_bytes) {
  const std::int64_t per_query = std::min(s.seq_len, (choice.k + 1) * choice.key_block);
  const std::int64_t per_problem = std::min(checked_product(s.query_len, per_query, "pairs"),
                                            dense_pairs_per_problem(s, causal));
  const std::int64_t table = 4 * s.problems() * choice.max_groups(s.query_len) * (choice.k + 1);
  const std::int64_t pattern_block = choice.query_group > 1 ? choice.query_group : 0;
  return {checked_product(s.problems(), per_problem, "pairs"),
          block_attention_workspace_bytes(s, threads, pattern_block) + table + scratch_bytes};
}

void score_key_block_means(const float* q, std::int64_t rows, const KeyBlockSummaries& sums,
                           std::int64_t b, std::int64_t kv, float* scores) {
  const std::int64_t blocks = sums.blocks(), block = sums.block();
  const float inv = 1.0f / static_cast<float>(block);
  score_rows(q, rows, sums.head(b, kv), blocks, sums.head_dim(), inv, scores, blocks);
  // The last block may be short: rescale its column from 1/block to 1/keys.
  const std::int64_t last_keys = sums.length() - (blocks - 1) * block;
  if (last_keys == block) return;
  const float fix = static_cast<float>(block) / static_cast<float>(last_keys);
  for (std::int64_t r = 0; r < rows; ++r) scores[r * blocks + blocks - 1] *= fix;
}

}  // namespace attn
