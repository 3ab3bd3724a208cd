// Longformer (Beltagy et al., 2020): a sliding window plus G global tokens, positions 0..G-1,
// which attend every key and which every query attends. The window may be dilated: query i sees
// keys i + dilation·t for t in [-left, right], so it spans dilation·left back and dilation·right
// forward. Causal restricts every query, global or not, to keys j <= i.
//
// On the block engine the global keys [0, G) are one unmasked range for every non-global block,
// an undilated window is split like sliding_window's (unmasked interior, masked edges), and a
// dilated window is one masked range: consecutive queries see disjoint residues, so no key is
// shared by a whole block and the engine computes dilation times the pairs it keeps.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "attention/bases/pattern_variant.hpp"
#include "attention/core/registry.hpp"
#include "attention/engine/block_engine.hpp"

namespace attn {
namespace {

constexpr double kMaxWing = 1 << 30;
constexpr double kMaxGlobal = 1 << 30;
constexpr double kMaxDilation = 1 << 16;

// Σ_{x=0}^{count-1} min(cap, floor(x / step)): the window keys on one side of the queries at
// distances 0..count-1 from the edge of the non-global region.
std::int64_t sum_of_capped_steps(std::int64_t count, std::int64_t cap, std::int64_t step) {
  if (count <= 0) return 0;
  const std::int64_t ramp = std::min(count, cap * step);  // x < cap·step gives floor(x/step) < cap
  const std::int64_t full = ramp / step, rest = ramp % step;
  return step * (full * (full - 1) / 2) + rest * full + (count - ramp) * cap;
}

class LongformerPattern final : public BlockPattern {
 public:
  LongformerPattern(std::int64_t seq_len, std::int64_t left, std::int64_t right,
                    std::int64_t global, std::int64_t dilation, bool causal)
      : n_(seq_len),
        left_(left),
        right_(causal ? 0 : right),
        global_(global),
        dilation_(dilation),
        causal_(causal) {}

  void key_ranges(std::int64_t, std::int64_t, std::int64_t q_begin, std::int64_t q_end,
                  std::vector<KeyRange>& out) const override {
    out.clear();
    const std::int64_t last = q_end - 1;
    if (q_begin < global_) {
      // A global query sees every key (causal: up to itself): take the whole row. Keys every query
      // of the block sees stay unmasked: the global keys, and causally only those <= q_begin.
      const std::int64_t end = causal_ ? q_end : n_;
      const std::int64_t shared = last < global_ ? (causal_ ? q_begin + 1 : n_)
                                                 : std::min(global_, causal_ ? q_begin + 1 : n_);
      append_key_range(out, 0, shared, false);
      append_key_range(out, shared, end, true);
      return;
    }
    append_key_range(out, 0, global_, false);  // global keys precede every non-global query
    const std::int64_t lo = std::max(global_, q_begin - dilation_ * left_);
    const std::int64_t hi = std::min(n_, last + dilation_ * right_ + 1);
    if (dilation_ > 1) {
      append_key_range(out, lo, hi, true);
      return;
    }
    const std::int64_t inner_lo = std::max(lo, last - left_);
    const std::int64_t inner_hi = std::min(hi, q_begin + right_ + 1);
    append_band(out, lo, hi, inner_lo, inner_hi);
  }

  bool allowed(std::int64_t, std::int64_t, std::int64_t q, std::int64_t k) const override {
    if (causal_ && k > q) return false;
    if (q < global_ || k < global_) return true;
    const std::int64_t offset = k - q;
    return offset >= -dilation_ * left_ && offset <= dilation_ * right_ && offset % dilation_ == 0;
  }

  void mask_tile(std::int64_t, std::int64_t, std::int64_t q_begin, std::int64_t q_end,
                 std::int64_t k_begin, std::int64_t k_end, float* scores,
                 std::int64_t ld) const override {
    constexpr float kNegInf = -std::numeric_limits<float>::infinity();
    for (std::int64_t q = q_begin; q < q_end; ++q) {
      float* row = scores + (q - q_begin) * ld;
      const auto mask_keys = [&](std::int64_t from, std::int64_t to) {
        std::fill(row + (from - k_begin), row + (to - k_begin), kNegInf);
      };
      const std::int64_t end = causal_ ? std::clamp(q + 1, k_begin, k_end) : k_end;
      mask_keys(end, k_end);
      if (q < global_) continue;
      // Keys below global_ are global; the window is checked from there on.
      const std::int64_t start = std::clamp(global_, k_begin, end);
      const std::int64_t lo = std::clamp(q - dilation_ * left_, start, end);
      const std::int64_t hi = std::clamp(q + dilation_ * right_ + 1, lo, end);
      mask_keys(start, lo);
      mask_keys(hi, end);
      if (dilation_ == 1) continue;
      // Inside the band only every dilation-th key, counted from q, is kept.
      std::int64_t phase = ((lo - q) % dilation_ + dilation_) % dilation_;
      for (std::int64_t k = lo; k < hi; ++k) {
        if (phase != 0) row[k - k_begin] = kNegInf;
        phase = phase + 1 == dilation_ ? 0 : phase + 1;
      }
    }
  }

  // Key k: causal, no query before it; a global key, every other query; otherwise every global
  // query and the window's queries k - dilation·right .. k + dilation·left, every dilation-th.
  bool masks_key_major() const override { return true; }
  void mask_tile_key_major(std::int64_t, std::int64_t, std::int64_t q_begin, std::int64_t q_end,
                           std::int64_t k_begin, std::int64_t k_end, float* scores,
                           std::int64_t ld) const override {
    constexpr float kNegInf = -std::numeric_limits<float>::infinity();
    for (std::int64_t k = k_begin; k < k_end; ++k) {
      float* column = scores + (k - k_begin) * ld;
      const std::int64_t first = causal_ ? std::clamp(k, q_begin, q_end) : q_begin;
      mask_queries_outside(column, q_begin, q_end, first, q_end);
      if (k < global_) continue;
      // Queries below global_ are global; the window is checked from there on.
      const std::int64_t start = std::clamp(global_, first, q_end);
      const std::int64_t lo = std::clamp(k - dilation_ * right_, start, q_end);
      const std::int64_t hi = std::clamp(k + dilation_ * left_ + 1, lo, q_end);
      mask_queries_outside(column + (start - q_begin), start, q_end, lo, hi);
      if (dilation_ == 1) continue;
      std::int64_t phase = ((k - lo) % dilation_ + dilation_) % dilation_;
      for (std::int64_t q = lo; q < hi; ++q) {
        if (phase != 0) column[q - q_begin] = kNegInf;
        phase = phase == 0 ? dilation_ - 1 : phase - 1;
      }
    }
  }

 private:
  std::int64_t n_, left_, right_, global_, dilation_;  // right_ is 0 when causal
  bool causal_;
};

class Longformer final : public PatternVariant {
 public:
  static VariantInfo info() {
    return {"longformer",
            "sliding window (optionally dilated) plus global tokens 0..global-1 that attend and "
            "are attended by every position",
            {{"left", ParamKind::kInteger, 256, 0, kMaxWing,
              "window steps before the query (keys i - dilation·t, t = 1..left)"},
             {"right", ParamKind::kInteger, 256, 0, kMaxWing,
              "window steps after the query (ignored when causal)"},
             {"global", ParamKind::kInteger, 1, 0, kMaxGlobal,
              "global tokens: positions 0..global-1 (1 = a [CLS] token, as for classification)"},
             {"dilation", ParamKind::kInteger, 1, 1, kMaxDilation,
              "gap between window keys (1 = plain sliding window)"}},
            {"longformer:left=8,right=8,global=3,dilation=1",
             "longformer:left=4,right=6,global=2,dilation=3"}};
  }
  explicit Longformer(const VariantConfig& config)
      : PatternVariant(config),
        left_(config.integer("left")),
        right_(config.integer("right")),
        global_(config.integer("global")),
        dilation_(config.integer("dilation")) {}

  void check(const AttentionShape& shape, bool) const override {
    if (global_ > shape.seq_len)
      throw std::invalid_argument("longformer: global=" + std::to_string(global_) +
                                  " names global tokens 0.." + std::to_string(global_ - 1) +
                                  " but the sequence has only N=" + std::to_string(shape.seq_len) +
                                  " positions; use global <= " + std::to_string(shape.seq_len));
  }

  std::unique_ptr<BlockPattern> make_pattern(const AttentionShape& shape,
                                             bool causal) const override {
    return std::make_unique<LongformerPattern>(shape.seq_len, left_, right_, global_, dilation_,
                                               causal);
  }

  Cost cost(const AttentionShape& s, bool causal, int threads) const override {
    check(s, causal);
    const std::int64_t n = s.seq_len, g = global_, first = s.first_position();
    // Global queries (positions first..g-1): every key (causal: p + 1 keys).
    std::int64_t per_problem = 0;
    if (first < g)
      per_problem = causal ? g * (g + 1) / 2 - first * (first + 1) / 2
                           : checked_product(g - first, n, "pairs");
    // Any other query p in [a, N): the g global keys, itself, and its window keys in [g, N) on
    // each side, at distance p - g from the global block and N - 1 - p from the end.
    const std::int64_t a = std::max(first, g), rows = n - a;
    const auto steps = [&](std::int64_t begin, std::int64_t end, std::int64_t cap) {
      return sum_of_capped_steps(end, cap, dilation_) - sum_of_capped_steps(begin, cap, dilation_);
    };
    per_problem += checked_product(rows, g + 1, "pairs") + steps(a - g, n - g, left_) +
                   steps(0, rows, causal ? 0 : right_);
    return {checked_product(s.problems(), per_problem, "pairs"),
            block_attention_workspace_bytes(s, threads)};
  }

 private:
  std::int64_t left_, right_, global_, dilation_;
};

const bool kRegistered = register_variant<Longformer>();

}  // namespace
}  // namespace attn
