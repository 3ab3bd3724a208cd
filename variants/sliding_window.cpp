// Local (banded) attention: the query at position p attends keys j with p-left <= j <= p+right,
// both ends inclusive, clipped to the sequence; causal also requires j <= p, so `right` has no
// effect then.
// Runs on the shared block engine: per block of queries, the band's interior (keys every query of
// the block sees) is one unmasked range and only the two ragged edges are masked.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "attention/bases/pattern_variant.hpp"
#include "attention/core/registry.hpp"
#include "attention/engine/block_engine.hpp"

namespace attn {
namespace {

constexpr double kMaxWing = 1 << 30;

class WindowPattern final : public BlockPattern {
 public:
  WindowPattern(std::int64_t seq_len, std::int64_t left, std::int64_t right)
      : n_(seq_len), left_(left), right_(right) {}

  void key_ranges(std::int64_t, std::int64_t, std::int64_t q_begin, std::int64_t q_end,
                  std::vector<KeyRange>& out) const override {
    out.clear();
    const std::int64_t last = q_end - 1;
    const std::int64_t lo = std::max<std::int64_t>(0, q_begin - left_);  // union of the windows
    const std::int64_t hi = std::min(n_, last + right_ + 1);
    // Keys inside every query's window: from the last query's left edge to the first's right edge.
    const std::int64_t inner_lo = std::max(lo, last - left_);
    const std::int64_t inner_hi = std::min(hi, q_begin + right_ + 1);
    append_band(out, lo, hi, inner_lo, inner_hi);
  }

  bool allowed(std::int64_t, std::int64_t, std::int64_t q, std::int64_t k) const override {
    return k >= q - left_ && k <= q + right_;
  }

  void mask_tile(std::int64_t, std::int64_t, std::int64_t q_begin, std::int64_t q_end,
                 std::int64_t k_begin, std::int64_t k_end, float* scores,
                 std::int64_t ld) const override {
    constexpr float kNegInf = -std::numeric_limits<float>::infinity();
    for (std::int64_t q = q_begin; q < q_end; ++q) {
      float* row = scores + (q - q_begin) * ld;
      const std::int64_t lo = std::clamp(q - left_, k_begin, k_end);
      const std::int64_t hi = std::clamp(q + right_ + 1, lo, k_end);
      std::fill(row, row + (lo - k_begin), kNegInf);
      std::fill(row + (hi - k_begin), row + (k_end - k_begin), kNegInf);
    }
  }

  // Key k is attended by queries k - right_ .. k + left_.
  bool masks_key_major() const override { return true; }
  void mask_tile_key_major(std::int64_t, std::int64_t, std::int64_t q_begin, std::int64_t q_end,
                           std::int64_t k_begin, std::int64_t k_end, float* scores,
                           std::int64_t ld) const override {
    for (std::int64_t k = k_begin; k < k_end; ++k)
      mask_queries_outside(scores + (k - k_begin) * ld, q_begin, q_end, k - right_, k + left_ + 1);
  }

 private:
  std::int64_t n_, left_, right_;  // right_ is 0 when causal
};

class SlidingWindow final : public PatternVariant {
 public:
  static VariantInfo info() {
    return {"sliding_window",
            "local attention: query i attends keys i-left..i+right (inclusive), clipped to the "
            "sequence; causal keeps j <= i",
            {{"left", ParamKind::kInteger, 256, 0, kMaxWing,
              "keys before the query it attends (inclusive window edge)"},
             {"right", ParamKind::kInteger, 256, 0, kMaxWing,
              "keys after the query it attends (ignored when causal)"}},
            {"sliding_window:left=16,right=0", "sliding_window:left=5,right=70"}};
  }
  explicit SlidingWindow(const VariantConfig& config)
      : PatternVariant(config), left_(config.integer("left")), right_(config.integer("right")) {}

  std::unique_ptr<BlockPattern> make_pattern(const AttentionShape& shape,
                                             bool causal) const override {
    return std::make_unique<WindowPattern>(shape.seq_len, left_, causal ? 0 : right_);
  }

  Cost cost(const AttentionShape& s, bool causal, int threads) const override {
    const std::int64_t n = s.seq_len, m = s.query_len;
    // Every query p in [N - M, N) sees itself, plus min(p, left) keys before and
    // min(N-1-p, right) after it.
    const std::int64_t per_problem =
        m + sum_of_capped(n - m, n, left_) + sum_of_capped(0, m, causal ? 0 : right_);
    return {checked_product(s.problems(), per_problem, "pairs"),
            block_attention_workspace_bytes(s, threads)};
  }

 private:
  std::int64_t left_, right_;
};

const bool kRegistered = register_variant<SlidingWindow>();

}  // namespace
}  // namespace attn
