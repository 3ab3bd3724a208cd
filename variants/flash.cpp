// Dense attention on the block engine (the FlashAttention recurrence): every key, or with
// --causal every key up to the query, tiled so that no N×N matrix is ever held.
#include <algorithm>
#include <limits>

#include "attention/bases/pattern_variant.hpp"
#include "attention/core/registry.hpp"

namespace attn {
namespace {

class FlashPattern final : public BlockPattern {
 public:
  FlashPattern(std::int64_t seq_len, bool causal, std::int64_t block)
      : seq_len_(seq_len), causal_(causal), block_(block) {}

  std::int64_t query_block() const override { return block_; }

  // Non-causal: one unmasked range over all keys. Causal: the keys before the block's first
  // position in full, then the block's own diagonal, masked.
  void key_ranges(std::int64_t, std::int64_t, std::int64_t q_begin, std::int64_t q_end,
                  std::vector<KeyRange>& out) const override {
    out.clear();
    if (!causal_) {
      out.push_back({0, seq_len_, false});
      return;
    }
    if (q_begin > 0) out.push_back({0, q_begin, false});
    out.push_back({q_begin, q_end, true});
  }

  bool allowed(std::int64_t, std::int64_t, std::int64_t q, std::int64_t k) const override {
    return !causal_ || k <= q;
  }

  // Causal only: row q keeps keys up to q, so each row's masked part is one contiguous tail.
  void mask_tile(std::int64_t, std::int64_t, std::int64_t q_begin, std::int64_t q_end,
                 std::int64_t k_begin, std::int64_t k_end, float* scores,
                 std::int64_t ld) const override {
    if (!causal_) return;
    for (std::int64_t q = q_begin; q < q_end; ++q) {
      const std::int64_t first_masked = std::clamp(q + 1, k_begin, k_end);
      float* row = scores + (q - q_begin) * ld;
      std::fill(row + (first_masked - k_begin), row + (k_end - k_begin),
                -std::numeric_limits<float>::infinity());
    }
  }

  // Causal: key k is attended by queries k onwards.
  bool masks_key_major() const override { return true; }
  void mask_tile_key_major(std::int64_t, std::int64_t, std::int64_t q_begin, std::int64_t q_end,
                           std::int64_t k_begin, std::int64_t k_end, float* scores,
                           std::int64_t ld) const override {
    if (!causal_) return;
    for (std::int64_t k = k_begin; k < k_end; ++k)
      std::fill(scores + (k - k_begin) * ld,
                scores + (k - k_begin) * ld + (std::clamp(k, q_begin, q_end) - q_begin),
                -std::numeric_limits<float>::infinity());
  }

 private:
  std::int64_t seq_len_;
  bool causal_;
  std::int64_t block_;
};

class Flash final : public PatternVariant {
 public:
  static VariantInfo info() {
    return {
        "flash",
        "dense attention on the tiled online-softmax block engine (no N×N buffer)",
        {{"block", ParamKind::kInteger, 0, 0, 4096, "queries per block (0: the engine's choice)"}}};
  }
  explicit Flash(const VariantConfig& config) : PatternVariant(config) {}

  std::unique_ptr<BlockPattern> make_pattern(const AttentionShape& shape,
                                             bool causal) const override {
    return std::make_unique<FlashPattern>(shape.seq_len, causal, config().integer("block"));
  }

  Cost cost(const AttentionShape& s, bool causal, int threads) const override {
    return {checked_product(s.problems(), dense_pairs_per_problem(s, causal), "pairs"),
            block_attention_workspace_bytes(s, threads, config().integer("block"))};
  }
};

const bool kRegistered = register_variant<Flash>();

}  // namespace
}  // namespace attn
