#pragma once

// The key set of the vertical-slash pattern (MInference): per (batch, query head) a set of key
// columns every query attends and a set of diagonal offsets o = p - j, each query attending the
// keys p - o; causal when asked. Chosen by vertical_slash from its last queries' attention, and
// by flexprefill for the heads whose attention is not query-specific.
#include <cstdint>
#include <vector>

#include "attention/bases/selection.hpp"

namespace attn {

class VerticalSlashPattern final : public SelectedPattern {
 public:
  VerticalSlashPattern(const AttentionShape& shape, bool causal);

  // Sets problem (b, h)'s columns and offsets, each ascending (empty: the head attends nothing
  // through this pattern).
  void set(std::int64_t b, std::int64_t h, std::vector<std::int64_t> columns,
           std::vector<std::int64_t> offsets);

  void key_ranges(std::int64_t b, std::int64_t h, std::int64_t q_begin, std::int64_t q_end,
                  std::vector<KeyRange>& out) const override;
  bool allowed(std::int64_t b, std::int64_t h, std::int64_t q, std::int64_t k) const override;
  void mask_tile(std::int64_t b, std::int64_t h, std::int64_t q_begin, std::int64_t q_end,
                 std::int64_t k_begin, std::int64_t k_end, float* scores,
                 std::int64_t ld) const override;
  std::int64_t pairs() const override;
  // The pairs of one problem.
  std::int64_t pairs(std::int64_t b, std::int64_t h) const;

 private:
  std::size_t index(std::int64_t b, std::int64_t h) const {
    return static_cast<std::size_t>(b * shape_.heads + h);
  }

  AttentionShape shape_;
  bool causal_;
  std::vector<std::vector<std::int64_t>> columns_, offsets_;
  std::vector<std::vector<char>> is_column_;  // [problem][key]: whether the key is a column
};

}  // namespace attn
