#pragma once

// The BlockPattern contract, checked on any pattern for any block of queries (aligned with the
// pattern's own blocks or not): ranges ascending, disjoint and in range, covering every allowed
// key, unmasked only where every query of the block is allowed; and mask_tile and
// mask_tile_key_major equal to the per-element default over every range.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "attention/bases/pattern_variant.hpp"
#include "attention/bases/selecting_variant.hpp"
#include "attention/core/variant.hpp"
#include "attention/engine/block_pattern.hpp"

namespace attn::testing {

// Query blocks that start at odd positions and hold 1, 7, 64 and 100 queries, among the
// absolute positions [first, n) of the shape.
inline void expect_pattern_contract(const BlockPattern& pattern, std::int64_t first, std::int64_t n,
                                    std::int64_t h) {
  std::vector<KeyRange> ranges;
  for (std::int64_t offset : {0, 1, 5, 31, 64, 100, 237, 299}) {
    const std::int64_t q_begin = first + offset;
    for (std::int64_t rows : {1, 7, 64, 100}) {
      const std::int64_t q_end = std::min(n, q_begin + rows);
      if (q_begin >= q_end) continue;
      SCOPED_TRACE("queries [" + std::to_string(q_begin) + ", " + std::to_string(q_end) + ")");
      pattern.key_ranges(0, h, q_begin, q_end, ranges);
      std::vector<int> covered(static_cast<std::size_t>(n), 0);  // 0 none, 1 masked, 2 unmasked
      std::int64_t previous_end = 0;
      for (const KeyRange& r : ranges) {
        ASSERT_LT(r.begin, r.end);
        ASSERT_GE(r.begin, previous_end);
        ASSERT_LE(r.end, n);
        previous_end = r.end;
        for (std::int64_t k = r.begin; k < r.end; ++k) covered[k] = r.masked ? 1 : 2;
      }
      for (std::int64_t q = q_begin; q < q_end; ++q)
        for (std::int64_t k = 0; k < n; ++k) {
          const bool ok = pattern.allowed(0, h, q, k);
          ASSERT_FALSE(ok && covered[k] == 0) << "q=" << q << " k=" << k << " not covered";
          ASSERT_FALSE(!ok && covered[k] == 2) << "q=" << q << " k=" << k << " unmasked";
        }
      for (const KeyRange& r : ranges) {
        const std::int64_t cols = r.end - r.begin, ld = cols + 3;
        std::vector<float> fast(static_cast<std::size_t>((q_end - q_begin) * ld), 1.0f);
        std::vector<float> slow = fast;
        pattern.mask_tile(0, h, q_begin, q_end, r.begin, r.end, fast.data(), ld);
        pattern.BlockPattern::mask_tile(0, h, q_begin, q_end, r.begin, r.end, slow.data(), ld);
        ASSERT_EQ(fast, slow) << "keys [" << r.begin << ", " << r.end << ")";
        // And key-major, against the default and against mask_tile transposed.
        const std::int64_t queries = q_end - q_begin, ld_t = queries + 5;
        std::vector<float> fast_t(static_cast<std::size_t>(cols * ld_t), 1.0f);
        std::vector<float> slow_t = fast_t, transposed = fast_t;
        pattern.mask_tile_key_major(0, h, q_begin, q_end, r.begin, r.end, fast_t.data(), ld_t);
        pattern.BlockPattern::mask_tile_key_major(0, h, q_begin, q_end, r.begin, r.end,
                                                  slow_t.data(), ld_t);
        for (std::int64_t q = 0; q < queries; ++q)
          for (std::int64_t c = 0; c < cols; ++c)
            transposed[static_cast<std::size_t>(c * ld_t + q)] =
                slow[static_cast<std::size_t>(q * ld + c)];
        ASSERT_EQ(fast_t, slow_t) << "key-major, keys [" << r.begin << ", " << r.end << ")";
        ASSERT_EQ(fast_t, transposed) << "key-major, keys [" << r.begin << ", " << r.end << ")";
      }
    }
  }
}

// The pattern a variant attends for these inputs: its fixed pattern, or the block-level
// selection it makes from them; null for variants of neither kind (dense, flash, LSH, token-level
// selections). `holder` keeps a fixed pattern alive.
inline const BlockPattern* pattern_of(const Variant& variant, const AttentionInputs& inputs,
                                      std::unique_ptr<BlockPattern>& holder,
                                      std::shared_ptr<const Selection>& selection) {
  if (const auto* fixed = dynamic_cast<const PatternVariant*>(&variant)) {
    holder = fixed->make_pattern(inputs.shape(), inputs.causal);
    return holder.get();
  }
  if (const auto* selecting = dynamic_cast<const SelectingVariant*>(&variant)) {
    selection = selecting->selection_for(inputs);
    return selection->pattern();
  }
  return nullptr;
}

// The same pattern with the engine's query blocks of `rows` queries, which need not line up
// with the pattern's own blocks: every masked path of the engine then runs on the defaults.
class ReblockedPattern final : public BlockPattern {
 public:
  ReblockedPattern(const BlockPattern& pattern, std::int64_t rows)
      : pattern_(pattern), rows_(rows) {}
  std::int64_t query_block() const override { return rows_; }
  void key_ranges(std::int64_t b, std::int64_t h, std::int64_t q_begin, std::int64_t q_end,
                  std::vector<KeyRange>& out) const override {
    pattern_.key_ranges(b, h, q_begin, q_end, out);
  }
  bool allowed(std::int64_t b, std::int64_t h, std::int64_t q, std::int64_t k) const override {
    return pattern_.allowed(b, h, q, k);
  }
  void mask_tile(std::int64_t b, std::int64_t h, std::int64_t q_begin, std::int64_t q_end,
                 std::int64_t k_begin, std::int64_t k_end, float* scores,
                 std::int64_t ld) const override {
    pattern_.mask_tile(b, h, q_begin, q_end, k_begin, k_end, scores, ld);
  }
  bool masks_key_major() const override { return pattern_.masks_key_major(); }
  void mask_tile_key_major(std::int64_t b, std::int64_t h, std::int64_t q_begin, std::int64_t q_end,
                           std::int64_t k_begin, std::int64_t k_end, float* scores,
                           std::int64_t ld) const override {
    pattern_.mask_tile_key_major(b, h, q_begin, q_end, k_begin, k_end, scores, ld);
  }

 private:
  const BlockPattern& pattern_;
  std::int64_t rows_;
};

}  // namespace attn::testing
