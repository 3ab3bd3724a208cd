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

std::vector<float> key_block_means(const AttentionInputs& inputs, std::int64_t block) {
  const AttentionShape s = inputs.shape();
  const std::int64_t d = s.head_dim, blocks = (s.seq_len + block - 1) / block;
  std::vector<float> means(static_cast<std::size_t>(s.batch * s.kv_heads * blocks * d));
  tbb::parallel_for(std::int64_t{0}, s.batch * s.kv_heads, [&](std::int64_t bk) {
    block_means(inputs.k.head(bk / s.kv_heads, bk % s.kv_heads), s.seq_len, d, block,
                means.data() + bk * blocks * d);
  });
  return means;
}

}  // namespace attn
