// StreamingLLM (Xiao et al., 2024; MInference's A-shape): the query at position p attends the
// attention sinks, keys j < sinks, and the `window` most recent keys up to and including
// itself, p - window < j <= p. With --causal the sinks too are limited to j <= p; without it a
// query before the last sink still sees every sink. A fixed pattern: no selection cost.
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

constexpr double kMaxCount = 1 << 30;

class StreamingPattern final : public BlockPattern {
 public:
  StreamingPattern(std::int64_t seq_len, std::int64_t sinks, std::int64_t window, bool causal)
      : n_(seq_len), sinks_(std::min(sinks, seq_len)), window_(window), causal_(causal) {}

  void key_ranges(std::int64_t, std::int64_t, std::int64_t q_begin, std::int64_t q_end,
                  std::vector<KeyRange>& out) const override {
    out.clear();
    const std::int64_t sink_end = causal_ ? std::min(sinks_, q_end) : sinks_;
    // Every query of the block sees all sinks unless causal cuts them at the first query.
    append_key_range(out, 0, sink_end, causal_ && sink_end - 1 > q_begin);
    if (window_ == 0) return;
    const std::int64_t lo = std::max(sink_end, q_begin - window_ + 1), hi = q_end;
    // Keys every query of the block sees: from the last one's window start to the first one.
    const std::int64_t inner_lo = std::max(lo, q_end - window_), inner_hi = q_begin + 1;
    if (lo < hi) append_band(out, lo, hi, inner_lo, std::max(inner_lo, inner_hi));
  }

  bool allowed(std::int64_t, std::int64_t, std::int64_t q, std::int64_t k) const override {
    if (k < 0 || k >= n_) return false;
    if (k < sinks_ && (!causal_ || k <= q)) return true;
    return k <= q && k > q - window_;
  }

  void mask_tile(std::int64_t, std::int64_t, std::int64_t q_begin, std::int64_t q_end,
                 std::int64_t k_begin, std::int64_t k_end, float* scores,
                 std::int64_t ld) const override {
    constexpr float kNegInf = -std::numeric_limits<float>::infinity();
    for (std::int64_t q = q_begin; q < q_end; ++q) {
      float* row = scores + (q - q_begin) * ld;
      // Allowed: [0, sink_end) and [q - window + 1, q], clipped to the tile.
      const std::int64_t sink_end =
          std::clamp(causal_ ? std::min(sinks_, q + 1) : sinks_, k_begin, k_end);
      const std::int64_t lo = std::clamp(std::max(q - window_ + 1, sink_end), sink_end, k_end);
      const std::int64_t hi = std::clamp(window_ > 0 ? q + 1 : lo, lo, k_end);
      std::fill(row + (sink_end - k_begin), row + (lo - k_begin), kNegInf);
      std::fill(row + (hi - k_begin), row + (k_end - k_begin), kNegInf);
    }
  }

  // A sink is attended by every query (causal: from its own position on); any other key k by
  // queries k .. k + window - 1.
  bool masks_key_major() const override { return true; }
  void mask_tile_key_major(std::int64_t, std::int64_t, std::int64_t q_begin, std::int64_t q_end,
                           std::int64_t k_begin, std::int64_t k_end, float* scores,
                           std::int64_t ld) const override {
    for (std::int64_t k = k_begin; k < k_end; ++k) {
      // A sink is seen by every query (causal: from its own position on).
      const bool sink = k < sinks_;
      mask_queries_outside(scores + (k - k_begin) * ld, q_begin, q_end,
                           sink && !causal_ ? q_begin : k, sink ? q_end : k + window_);
    }
  }

 private:
  std::int64_t n_, sinks_, window_;
  bool causal_;
};

class Streaming final : public PatternVariant {
 public:
  static VariantInfo info() {
    return {"streaming",
            "StreamingLLM / A-shape: keys j < sinks plus the window most recent keys "
            "p - window < j <= p (causal: sinks too only up to p)",
            {{"sinks", ParamKind::kInteger, 4, 0, kMaxCount, "leading keys every query attends"},
             {"window", ParamKind::kInteger, 1024, 0, kMaxCount,
              "most recent keys each query attends, itself included"}},
            {"streaming:sinks=4,window=16", "streaming:sinks=70,window=5",
             "streaming:sinks=0,window=100", "streaming:sinks=3,window=0"}};
  }
  explicit Streaming(const VariantConfig& config)
      : PatternVariant(config),
        sinks_(config.integer("sinks")),
        window_(config.integer("window")) {}

  std::unique_ptr<BlockPattern> make_pattern(const AttentionShape& shape,
                                             bool causal) const override {
    return std::make_unique<StreamingPattern>(shape.seq_len, sinks_, window_, causal);
  }

  // In a decode session StreamingLLM is an eviction cache: the sinks and the window are all a
  // server keeps, and exactly the keys the pattern gives the newest query.
  std::int64_t session_cache_bytes(const AttentionInputs& step, const CacheState*) const override {
    const AttentionShape s = step.shape();
    const std::int64_t n = s.seq_len, window_lo = std::max<std::int64_t>(0, n - window_);
    const std::int64_t kept = (window_ > 0 ? n - window_lo : 0) + std::min(sinks_, window_lo);
    return s.batch * kept * s.kv_token_bytes();
  }

  Cost cost(const AttentionShape& s, bool causal, int threads) const override {
    const std::int64_t n = s.seq_len, sinks = std::min(sinks_, n);
    // Per query p: the window's min(window, p + 1) keys, and the sinks outside it.
    std::int64_t per_problem = 0;
    for (std::int64_t p = s.first_position(); p < n; ++p) {
      const std::int64_t window_lo = std::max<std::int64_t>(0, p - window_ + 1);
      const std::int64_t in_window = window_ > 0 ? p + 1 - window_lo : 0;
      const std::int64_t visible_sinks = causal ? std::min(sinks, p + 1) : sinks;
      // Sinks below the window, and (without causal) sinks after the query.
      const std::int64_t below = std::min(visible_sinks, window_ > 0 ? window_lo : visible_sinks);
      const std::int64_t after =
          causal || window_ == 0 ? 0 : std::max<std::int64_t>(0, sinks - p - 1);
      per_problem += in_window + below + after;
    }
    return {checked_product(s.problems(), per_problem, "pairs"),
            block_attention_workspace_bytes(s, threads)};
  }

 private:
  std::int64_t sinks_, window_;
};

const bool kRegistered = register_variant<Streaming>();

}  // namespace
}  // namespace attn
