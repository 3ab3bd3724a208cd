#pragma once

// Query-aware sparsity: a variant chooses its keys from the inputs, then attends them exactly.
// The choice is one value, a Selection, that forward() attends and keys() reads, so the two
// cannot disagree.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "attention/core/tensor.hpp"
#include "attention/core/variant.hpp"
#include "attention/engine/block_pattern.hpp"

namespace attn {

// The keys a query-aware variant chose for one set of inputs.
class Selection {
 public:
  virtual ~Selection() = default;

  // The sorted keys of query `query` (0..M-1) of problem (b, h), h the query head.
  virtual void keys(std::int64_t b, std::int64_t h, std::int64_t query,
                    std::vector<std::int64_t>& out) const = 0;
  // Selected (query, key) pairs over batch and heads.
  virtual std::int64_t pairs() const = 0;
  // Exact softmax attention of every query over its selected keys, into `out`.
  virtual void attend(const AttentionInputs& inputs, MutableTensorView out) const = 0;
  // The block pattern a block-level selection is attended as (the pattern contract applies to
  // it); null for token-level selections.
  virtual const BlockPattern* pattern() const { return nullptr; }
};

// A block pattern computed from the inputs that can also count its pairs.
class SelectedPattern : public BlockPattern {
 public:
  virtual std::int64_t pairs() const = 0;
};

// A block-level selection: key ranges per query block, attended by the block engine like any
// fixed pattern.
class PatternSelection final : public Selection {
 public:
  PatternSelection(std::unique_ptr<SelectedPattern> pattern, const AttentionShape& shape)
      : pattern_(std::move(pattern)), shape_(shape) {}
  void keys(std::int64_t b, std::int64_t h, std::int64_t query,
            std::vector<std::int64_t>& out) const override;
  std::int64_t pairs() const override { return pattern_->pairs(); }
  void attend(const AttentionInputs& inputs, MutableTensorView out) const override;
  const BlockPattern* pattern() const override { return pattern_.get(); }

 private:
  std::unique_ptr<SelectedPattern> pattern_;
  AttentionShape shape_;
};

// A selection in whole key blocks: every query group (queries at absolute positions
// [g · query_group, (g + 1) · query_group), 1 for a per-query choice) of problem (b, h) lists up
// to `slots` key blocks of `key_block` keys (the last one may be short). A query attends the
// keys of its group's blocks, and with `causal` only those up to its own position. Blocks are
// listed ascending, unused slots hold -1.
class KeyBlockPattern final : public SelectedPattern {
 public:
  KeyBlockPattern(const AttentionShape& shape, bool causal, std::int64_t key_block,
                  std::int64_t query_group, std::int64_t slots);

  // Query groups per (b, h), and the group of absolute position p.
  std::int64_t groups() const { return groups_; }
  std::int64_t group_of(std::int64_t position) const {
    return position / query_group_ - first_group_;
  }
  // The key block holding the first position of group g.
  std::int64_t own_block(std::int64_t g) const {
    return (g + first_group_) * query_group_ / key_block_;
  }
  std::int64_t slots() const { return slots_; }
  std::int64_t key_block() const { return key_block_; }
  std::int64_t query_group() const { return query_group_; }
  bool causal() const { return causal_; }
  const AttentionShape& shape() const { return shape_; }
  // The slots of group g of problem (b, h): fill, then sort with finish().
  std::int32_t* blocks(std::int64_t b, std::int64_t h, std::int64_t g) {
    return blocks_.data() + ((b * shape_.heads + h) * groups_ + g) * slots_;
  }
  const std::int32_t* blocks(std::int64_t b, std::int64_t h, std::int64_t g) const {
    return blocks_.data() + ((b * shape_.heads + h) * groups_ + g) * slots_;
  }
  // Sorts every list ascending with the unused slots (-1) last, dropping repeats.
  void finish();

  std::int64_t query_block() const override { return query_group_ > 1 ? query_group_ : 0; }
  void key_ranges(std::int64_t b, std::int64_t h, std::int64_t q_begin, std::int64_t q_end,
                  std::vector<KeyRange>& out) const override;
  bool allowed(std::int64_t b, std::int64_t h, std::int64_t q, std::int64_t k) const override;
  void mask_tile(std::int64_t b, std::int64_t h, std::int64_t q_begin, std::int64_t q_end,
                 std::int64_t k_begin, std::int64_t k_end, float* scores,
                 std::int64_t ld) const override;
  std::int64_t pairs() const override;

 private:
  AttentionShape shape_;
  bool causal_;
  std::int64_t key_block_, query_group_, slots_;
  std::int64_t first_group_, groups_;
  std::vector<std::int32_t> blocks_;
};

// Per query row, a sorted list of keys (token-level selections such as top-k): attended on the
// engine's gathered path (gathered_attention.hpp).
class KeyListSelection final : public Selection {
 public:
  explicit KeyListSelection(const AttentionShape& shape);

  // The list of query `query` of problem (b, h): set every row of a problem, in any order,
  // with set_row (thread-safe across problems, not within one).
  void set_row(std::int64_t b, std::int64_t h, std::int64_t query,
               const std::vector<std::int32_t>& sorted_keys);

  void keys(std::int64_t b, std::int64_t h, std::int64_t query,
            std::vector<std::int64_t>& out) const override;
  std::int64_t pairs() const override;
  void attend(const AttentionInputs& inputs, MutableTensorView out) const override;

  // The list of one row, for the gathered path.
  std::pair<const std::int32_t*, std::int64_t> row(std::int64_t b, std::int64_t h,
                                                   std::int64_t query) const {
    const auto& list =
        rows_[static_cast<std::size_t>((b * shape_.heads + h) * shape_.query_len + query)];
    return {list.data(), static_cast<std::int64_t>(list.size())};
  }
  const AttentionShape& shape() const { return shape_; }

 private:
  AttentionShape shape_;
  std::vector<std::vector<std::int32_t>> rows_;  // [b][h][query]
};

// ---- Shared steps of the selection rules -------------------------------------------------

// Appends to `out` (after clearing it) the `k` indices c in [0, count), c != except (-1: no
// exception), with the largest scores[c], ties to the lower index; ascending. Fewer when there
// are fewer candidates.
void top_k_except(const float* scores, std::int64_t count, std::int64_t except, std::int64_t k,
                  std::vector<std::int32_t>& out);

// Sets `keys` to the min(k, visible) indices j < visible with the largest scores[j] (ties: the
// lower index), ascending; `bits` is the caller's scratch. A radix select: several times faster
// than nth_element on rows of thousands of scores.
void top_k_keys(const float* scores, std::int64_t visible, std::int64_t k,
                std::vector<std::uint32_t>& bits, std::vector<std::int32_t>& keys);

// The fewest indices c < count, taken best first by mass[c] (ties: the lower index), whose mass
// sums to at least `threshold` (none for a threshold of 0): the cumulative-mass budget of
// XAttention and FlexPrefill. In the order taken.
std::vector<std::int64_t> cover_mass(const double* mass, std::int64_t count, double threshold);

// scores[r * ld + c] = alpha · q_r·k_c for r < rows, c < cols (rows of q and k `d` floats
// apart), on the engine's score kernel: the selections score with the kernels that attend.
void score_rows(const float* q, std::int64_t rows, const float* k, std::int64_t cols,
                std::int64_t d, float alpha, float* scores, std::int64_t ld);

// The mean of every block of `block` rows of x (rows × d, row-major; the last block may be
// short): out holds ceil(rows / block) × d values.
void block_means(const float* x, std::int64_t rows, std::int64_t d, std::int64_t block, float* out);

// A token-level choice from the true scores: the queries of every problem (b, h) are scored
// `chunk` at a time against every key they may see (causal: up to the chunk's last position),
// then rule(row, visible, keys) sets `keys` to the sorted keys of one query from its scores
// row[0, visible) (causal: the keys up to its position; else all N). make_rule() gives every
// task its own rule, so a rule may keep scratch.
template <class MakeRule>
std::shared_ptr<const Selection> choose_keys_by_score(const AttentionInputs& in, std::int64_t chunk,
                                                      const MakeRule& make_rule) {
  const AttentionShape s = in.shape();
  const std::int64_t d = s.head_dim, m = s.query_len, n = s.seq_len;
  auto selection = std::make_shared<KeyListSelection>(s);
  const std::int64_t chunks = (m + chunk - 1) / chunk;
  tbb::parallel_for(std::int64_t{0}, s.batch * s.heads * chunks, [&](std::int64_t item) {
    const std::int64_t bh = item / chunks, b = bh / s.heads, h = bh % s.heads;
    const std::int64_t i0 = item % chunks * chunk, rows = std::min(chunk, m - i0);
    const std::int64_t cols = in.causal ? s.position(i0 + rows - 1) + 1 : n;
    std::vector<float> scores(static_cast<std::size_t>(rows * cols));
    auto rule = make_rule();
    score_rows(in.q.row(b, h, i0), rows, in.k_head(b, h), cols, d, 1.0f, scores.data(), cols);
    std::vector<std::int32_t> keys;
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t visible = in.causal ? s.position(i0 + r) + 1 : n;
      rule(scores.data() + r * cols, visible, keys);
      selection->set_row(b, h, i0 + r, keys);
    }
  });
  return selection;
}

}  // namespace attn
