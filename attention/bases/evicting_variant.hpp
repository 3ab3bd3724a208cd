#pragma once

// KV-cache eviction (StreamingLLM, H2O, TOVA, SnapKV, and per-head budgets as AdaKV and
// PyramidKV allocate them): each kv head keeps a bounded set of cached tokens, and a token
// dropped is gone for the rest of the session. The kept set is the state a variant keeps with
// the cache; a step attends exactly it. Accuracy is always measured against the full cache, so
// what eviction loses shows step by step.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attention/bases/selecting_variant.hpp"

namespace attn {

// The kept tokens of every kv head, ascending positions, each with the score the method ranks
// it by (accumulated attention for H2O, the last query's attention for TOVA, pooled window
// attention for SnapKV).
class KeptKeys final : public CacheState {
 public:
  explicit KeptKeys(std::int64_t kv_problems) : heads_(static_cast<std::size_t>(kv_problems)) {}

  struct Head {
    std::vector<std::int32_t> keys;
    std::vector<double> scores;
  };
  // Kv head number b · kv_heads + kv.
  Head& head(std::int64_t bk) { return heads_[static_cast<std::size_t>(bk)]; }
  const Head& head(std::int64_t bk) const { return heads_[static_cast<std::size_t>(bk)]; }
  std::int64_t kv_problems() const { return static_cast<std::int64_t>(heads_.size()); }
  // Kept tokens over all kv heads.
  std::int64_t kept() const;

  // The kept lists and scores; the kept tokens' K and V are counted by session_cache_bytes.
  std::int64_t bytes() const override;
  std::vector<double> values() const override;

 private:
  std::vector<Head> heads_;
};

// Base of the eviction methods: a method says which tokens the prefill keeps (compress) and
// what a step does with the token it appends (append: keep it and drop one, or keep growing).
class EvictingVariant : public SelectingVariant {
 public:
  using SelectingVariant::SelectingVariant;

  // Chooses the kept tokens of a cache of `prefill`'s N keys, scored with the queries it holds
  // (the prompt's last queries, the observation window), into `kept` (one Head per kv head).
  virtual void compress(const AttentionInputs& prefill, KeptKeys& kept) const = 0;
  // Takes in key N - 1 of `step` (its newest), whose query is step's one query.
  virtual void append(const AttentionInputs& step, KeptKeys& kept) const = 0;
  // Tokens per kv head the method keeps at most (SnapKV: at prefill); check() refuses more than
  // the cache holds.
  virtual std::int64_t budget() const = 0;

  bool evicts() const final { return true; }
  bool chooses_per_query() const final { return false; }
  std::string unsupported(const AttentionShape& shape, bool causal) const override;
  void check(const AttentionShape& shape, bool causal) const override;

  // A one-shot forward compresses the cache with its own queries as the observation window,
  // then every query attends the kept tokens it may see.
  std::shared_ptr<const Selection> select(const AttentionInputs& inputs) const final;
  std::shared_ptr<const Selection> select_from_state(const AttentionInputs& step,
                                                     const CacheState& state) const final;
  std::unique_ptr<CacheState> start_session(const AttentionInputs& prefill) const final;
  void extend_session(CacheState& state, const AttentionInputs& step) const final;
  std::int64_t session_cache_bytes(const AttentionInputs& step,
                                   const CacheState* state) const final;
  Cost cost(const AttentionShape& shape, bool causal, int threads) const override;
};

// ---- Shared steps of the eviction rules ------------------------------------------------

// The attention the last `rows` queries of `in` (all of them when fewer) pay each key of kv head
// (b, kv): per query of every query head of the group, the softmax over the keys it may see
// (causal: up to its position) of the scaled scores, summed over the queries and averaged over
// the heads, in fp64; weights[j] for key j < N.
void window_attention(const AttentionInputs& in, std::int64_t b, std::int64_t kv, std::int64_t rows,
                      std::vector<double>& weights);

// The attention the one query of `step` pays each of `keys` (positions of kv head (b, kv)),
// the softmax over just those keys, averaged over the group's query heads; weights[i] for keys[i].
void attention_over(const AttentionInputs& step, std::int64_t b, std::int64_t kv,
                    const std::vector<std::int32_t>& keys, std::vector<double>& weights);

// Positions [0, n) ranked by score, best first, ties to the lower position; the first `k`.
std::vector<std::int32_t> best_positions(const std::vector<double>& scores, std::int64_t n,
                                         std::int64_t k);

}  // namespace attn
