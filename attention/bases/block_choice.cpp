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

std::vector<float> key_block_means(const KeyBlockSummaries& sums) {
  const std::int64_t per_head = sums.blocks() * sums.head_dim();
  std::vector<float> means(static_cast<std::size_t>(sums.kv_problems() * per_head));
  tbb::parallel_for(std::int64_t{0}, sums.kv_problems(),
                    [&](std::int64_t bk) { sums.means(bk, means.data() + bk * per_head); });
  return means;
}

}  // namespace attn
