#pragma once

// The block choice of MoBA, Quest and block_topk: every query group scores the key blocks, keeps
// the k best candidates and its own block, and the lists are a KeyBlockPattern attended by the
// block engine. The variants differ only in how a group scores a block.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "attention/bases/key_block_summaries.hpp"
#include "attention/bases/selection.hpp"
#include "attention/core/variant.hpp"

namespace attn {

struct BlockChoice {
  // chunk: one task scores every group of a problem.
  static constexpr std::int64_t kAllGroups = std::numeric_limits<std::int64_t>::max();

  std::int64_t key_block;    // keys per block (the last one may be short)
  std::int64_t query_group;  // queries that choose together (1: each query chooses)
  std::int64_t k;            // blocks a group chooses besides its own
  std::int64_t chunk;        // groups scored by one task (kAllGroups: a problem's)

  std::int64_t key_blocks(std::int64_t seq_len) const {
    return (seq_len + key_block - 1) / key_block;
  }
  // Groups per problem at most: the span of query_len queries may start and end inside a group.
  std::int64_t max_groups(std::int64_t query_len) const {
    return (query_len + 2 * query_group - 2) / query_group;
  }
};

// The selection of `choice` for these inputs. Per problem (b, h) and `choice.chunk` groups at a
// time, score(b, h, g0, rows, scores) writes scores[r · blocks + c], the score of key block c
// (c < blocks = choice.key_blocks(N)) for group g0 + r (r < rows; the groups of KeyBlockPattern,
// so with query_group 1 group i is query i). Group g then keeps its own block, the one holding
// its first position, and the k blocks with the largest scores (ties: the lower block) among the
// candidates: causal, the blocks before its own; else every other block.
template <class ScoreGroups>
std::shared_ptr<const Selection> choose_key_blocks(const AttentionInputs& in,
                                                   const BlockChoice& choice,
                                                   const ScoreGroups& score) {
  const AttentionShape s = in.shape();
  const bool causal = in.causal;
  const std::int64_t blocks = choice.key_blocks(s.seq_len), k = choice.k, chunk = choice.chunk;
  auto pattern =
      std::make_unique<KeyBlockPattern>(s, causal, choice.key_block, choice.query_group, k + 1);
  const std::int64_t groups = pattern->groups();
  const std::int64_t chunks = (groups - 1) / chunk + 1;
  tbb::parallel_for(std::int64_t{0}, s.batch * s.heads * chunks, [&](std::int64_t item) {
    const std::int64_t bh = item / chunks, b = bh / s.heads, h = bh % s.heads;
    const std::int64_t g0 = item % chunks * chunk, rows = std::min(chunk, groups - g0);
    std::vector<float> scores(static_cast<std::size_t>(rows * blocks));
    score(b, h, g0, rows, scores.data());
    std::vector<std::int32_t> chosen;
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t own = pattern->own_block(g0 + r);
      top_k_except(scores.data() + r * blocks, causal ? own : blocks, causal ? -1 : own, k, chosen);
      std::int32_t* slots = pattern->blocks(b, h, g0 + r);
      std::copy(chosen.begin(), chosen.end(), slots);
      slots[chosen.size()] = static_cast<std::int32_t>(own);
    }
  });
  pattern->finish();
  return std::make_shared<PatternSelection>(std::move(pattern), s);
}

// The cost of a block choice: at most k + 1 blocks per query (exact counts come from
// pairs(inputs)), and as workspace the block engine's, the block lists and `scratch_bytes`, what
// the variant's scoring holds at peak.
Cost block_choice_cost(const AttentionShape& s, bool causal, int threads, const BlockChoice& choice,
                       std::int64_t scratch_bytes);

// scores[r · blocks + c] = q_r·mean(K_block c) of kv head (b, kv) for r < rows, from the block sums
// kept with the cache: q_r·sum_c / keys_c, so no means are materialised at each decode step.
void score_key_block_means(const float* q, std::int64_t rows, const KeyBlockSummaries& sums,
                           std::int64_t b, std::int64_t kv, float* scores);

}  // namespace attn
