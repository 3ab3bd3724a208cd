// BigBird ITC (Zaheer et al., 2020) at block granularity. The sequence is cut into blocks of
// `block` keys (the last one may be short). Query block i attends:
//   - the `window` blocks centred on it, i-(window-1)/2 .. i+(window-1)/2 (window must be odd);
//   - the global blocks: the first ceil(global/2) and the last floor(global/2) blocks (a union,
//     so with global >= the number of blocks every block is global and the pattern is dense);
//   - `random` further blocks, drawn per (head, query block) without repetition from the blocks
//     not already seen, anywhere in the sequence (all of them when fewer remain).
// A global query block attends every key. Causal: every query keeps only keys j <= i, and the
// random blocks are drawn among past blocks only, so a query block still gets `random` of them.
//
// The random draw is reproducible across compilers: splitmix64 seeded with
// splitmix64(splitmix64(splitmix64(seed) ^ head) ^ query_block), then Floyd's algorithm picks
// the blocks, each draw reduced modulo its range (bias below 2^-40 for any realistic range).
#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "attention/bases/pattern_variant.hpp"
#include "attention/core/random.hpp"
#include "attention/core/registry.hpp"
#include "attention/engine/block_engine.hpp"

namespace attn {
namespace {

constexpr double kMaxBlock = 1 << 16;
constexpr double kMaxBlocks = 1 << 20;  // window, global and random are counts of blocks
constexpr double kMaxSeed = 4294967295.0;
// The random table holds heads · blocks · min(random, blocks) entries; beyond this it is not a
// sparse pattern any more but a memory hazard.
constexpr std::int64_t kMaxRandomEntries = std::int64_t{1} << 27;

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

struct BigBirdParams {
  std::int64_t block, window, global, random;
  std::uint64_t seed;
};

// Half-open range of block indices.
struct BlockSpan {
  std::int64_t begin, end;
};

class BigBirdPattern final : public BlockPattern {
 public:
  BigBirdPattern(const BigBirdParams& p, const AttentionShape& shape, bool causal)
      : n_(shape.seq_len),
        block_(p.block),
        blocks_(ceil_div(shape.seq_len, p.block)),
        half_(p.window / 2),
        first_(std::min(blocks_, (p.global + 1) / 2)),
        last_(std::min(blocks_, p.global / 2)),
        stride_(std::min(p.random, blocks_)),
        causal_(causal),
        random_(static_cast<std::size_t>(shape.heads * blocks_ * stride_)),
        random_count_(static_cast<std::size_t>(shape.heads * blocks_)) {
    for (std::int64_t h = 0; h < shape.heads; ++h)
      for (std::int64_t qb = 0; qb < blocks_; ++qb) draw_random(p.seed, h, qb);
  }

  std::int64_t query_block() const override { return block_; }

  void key_ranges(std::int64_t, std::int64_t h, std::int64_t q_begin, std::int64_t q_end,
                  std::vector<KeyRange>& out) const override {
    out.clear();
    const std::int64_t qb_first = q_begin / block_, qb_last = (q_end - 1) / block_;
    std::vector<BlockSpan> spans;
    if (qb_first == qb_last) {  // the engine's case: one query block, every block seen in full
      block_spans(h, qb_first, spans);
      for (const BlockSpan& s : spans) add_keys(out, s, false, q_begin, q_end);
      return;
    }
    // Several query blocks: a key block seen by all of them is unmasked, by some of them masked.
    std::vector<std::pair<std::int64_t, int>> events;
    for (std::int64_t qb = qb_first; qb <= qb_last; ++qb) {
      block_spans(h, qb, spans);
      for (const BlockSpan& s : spans) {
        events.emplace_back(s.begin, 1);
        events.emplace_back(s.end, -1);
      }
    }
    std::sort(events.begin(), events.end());
    const std::int64_t query_blocks = qb_last - qb_first + 1;
    int seen_by = 0;
    std::int64_t previous = 0;
    for (const auto& [position, delta] : events) {
      if (seen_by > 0 && position > previous)
        add_keys(out, {previous, position}, seen_by < query_blocks, q_begin, q_end);
      seen_by += delta;
      previous = position;
    }
  }

  bool allowed(std::int64_t, std::int64_t h, std::int64_t q, std::int64_t k) const override {
    if (causal_ && k > q) return false;
    return block_allowed(h, q / block_, k / block_);
  }

  void mask_tile(std::int64_t, std::int64_t h, std::int64_t q_begin, std::int64_t q_end,
                 std::int64_t k_begin, std::int64_t k_end, float* scores,
                 std::int64_t ld) const override {
    constexpr float kNegInf = -std::numeric_limits<float>::infinity();
    for (std::int64_t q = q_begin; q < q_end; ++q) {
      float* row = scores + (q - q_begin) * ld;
      const auto mask_keys = [&](std::int64_t from, std::int64_t to) {
        if (from < to) std::fill(row + (from - k_begin), row + (to - k_begin), kNegInf);
      };
      const std::int64_t end = causal_ ? std::clamp(q + 1, k_begin, k_end) : k_end;
      mask_keys(end, k_end);
      // Whole key blocks are in or out, so the tile is decided block by block.
      for (std::int64_t kb = k_begin / block_; kb * block_ < end; ++kb)
        if (!block_allowed(h, q / block_, kb))
          mask_keys(std::max(k_begin, kb * block_), std::min(end, (kb + 1) * block_));
    }
  }

  // Exact (query, key) pairs of one batch entry (all heads), from the block structure: O(heads ·
  // blocks · (random + 3)), never per key.
  // Only the query positions from `first` on count (the last M of the sequence).
  std::int64_t pairs_per_batch_entry(std::int64_t heads, std::int64_t first) const {
    std::int64_t total = 0;
    std::vector<BlockSpan> spans;
    for (std::int64_t h = 0; h < heads; ++h)
      for (std::int64_t qb = first / block_; qb < blocks_; ++qb) {
        const std::int64_t lo = std::max(first, qb * block_), hi = std::min(n_, (qb + 1) * block_);
        const std::int64_t rows = hi - lo;
        // Causally, position p of the diagonal block sees p - qb·block + 1 of its keys.
        const std::int64_t diagonal = (lo - qb * block_ + 1 + hi - qb * block_) * rows / 2;
        block_spans(h, qb, spans);
        for (const BlockSpan& s : spans) {
          if (!causal_) {
            total += rows * keys_in({s.begin, s.end});
            continue;
          }
          total += rows * keys_in({s.begin, std::min(s.end, qb)});  // wholly past blocks
          if (s.begin <= qb && qb < s.end) total += diagonal;
        }
      }
    return total;
  }

  std::int64_t table_bytes() const {
    return static_cast<std::int64_t>(random_.size() * sizeof(std::int32_t) +
                                     random_count_.size() * sizeof(std::int32_t));
  }

 private:
  bool is_global(std::int64_t b) const { return b < first_ || b >= blocks_ - last_; }

  std::span<const std::int32_t> random_blocks(std::int64_t h, std::int64_t qb) const {
    const auto slot = static_cast<std::size_t>(h * blocks_ + qb);
    return {random_.data() + slot * static_cast<std::size_t>(stride_),
            static_cast<std::size_t>(random_count_[slot])};
  }

  bool block_allowed(std::int64_t h, std::int64_t qb, std::int64_t kb) const {
    if (is_global(qb) || is_global(kb) || (kb - qb <= half_ && qb - kb <= half_)) return true;
    const auto chosen = random_blocks(h, qb);
    return std::binary_search(chosen.begin(), chosen.end(), static_cast<std::int32_t>(kb));
  }

  std::int64_t keys_in(BlockSpan s) const {
    return s.begin < s.end ? std::min(n_, s.end * block_) - s.begin * block_ : 0;
  }

  // The key blocks query block qb attends, ignoring causality, as sorted disjoint spans.
  void block_spans(std::int64_t h, std::int64_t qb, std::vector<BlockSpan>& out) const {
    out.clear();
    if (is_global(qb)) {
      out.push_back({0, blocks_});
      return;
    }
    std::vector<BlockSpan> parts = {
        {0, first_},
        {std::max<std::int64_t>(0, qb - half_), std::min(blocks_, qb + half_ + 1)},
        {blocks_ - last_, blocks_}};
    for (std::int32_t kb : random_blocks(h, qb)) parts.push_back({kb, kb + 1});
    std::sort(parts.begin(), parts.end(),
              [](const BlockSpan& a, const BlockSpan& b) { return a.begin < b.begin; });
    for (const BlockSpan& s : parts) {
      if (s.begin >= s.end) continue;
      if (!out.empty() && s.begin <= out.back().end)
        out.back().end = std::max(out.back().end, s.end);
      else
        out.push_back(s);
    }
  }

  // Appends the keys of blocks [s.begin, s.end) for queries [q_begin, q_end); causally, keys past
  // q_end are dropped and keys from q_begin on are masked (each query sees only up to itself).
  void add_keys(std::vector<KeyRange>& out, BlockSpan s, bool masked, std::int64_t q_begin,
                std::int64_t q_end) const {
    const std::int64_t begin = s.begin * block_;
    std::int64_t end = std::min(n_, s.end * block_);
    if (!causal_) {
      append_key_range(out, begin, end, masked);
      return;
    }
    end = std::min(end, q_end);
    append_key_range(out, begin, std::min(end, q_begin), masked);
    append_key_range(out, std::max(begin, q_begin), end, true);
  }

  // Fills the random blocks of (h, qb): Floyd's algorithm over the candidate blocks, which are
  // the non-global blocks (causal: the past ones) outside the window, at most two spans.
  void draw_random(std::uint64_t seed, std::int64_t h, std::int64_t qb) {
    const auto slot = static_cast<std::size_t>(h * blocks_ + qb);
    if (is_global(qb) || stride_ == 0) return;
    const std::int64_t range_end = causal_ ? qb : blocks_ - last_;
    const BlockSpan before{first_, std::min(range_end, qb - half_)};
    const BlockSpan after{std::max(first_, qb + half_ + 1), range_end};
    const std::int64_t before_size = std::max<std::int64_t>(0, before.end - before.begin);
    const std::int64_t candidates =
        before_size + std::max<std::int64_t>(0, after.end - after.begin);
    const std::int64_t picks = std::min(stride_, candidates);

    std::uint64_t state = hash64(hash64(hash64(seed) ^ static_cast<std::uint64_t>(h)) ^
                                 static_cast<std::uint64_t>(qb));
    std::vector<std::int64_t> chosen;
    chosen.reserve(static_cast<std::size_t>(picks));
    std::vector<bool> taken;  // for many picks, a membership bitmap beats a linear search
    if (picks > 64) taken.assign(static_cast<std::size_t>(candidates), false);
    for (std::int64_t j = candidates - picks; j < candidates; ++j) {
      const auto t =
          static_cast<std::int64_t>(splitmix64(state) % static_cast<std::uint64_t>(j + 1));
      const bool repeat = taken.empty() ? std::find(chosen.begin(), chosen.end(), t) != chosen.end()
                                        : static_cast<bool>(taken[static_cast<std::size_t>(t)]);
      const std::int64_t pick = repeat ? j : t;
      chosen.push_back(pick);
      if (!taken.empty()) taken[static_cast<std::size_t>(pick)] = true;
    }
    std::int32_t* row = random_.data() + slot * static_cast<std::size_t>(stride_);
    for (std::size_t i = 0; i < chosen.size(); ++i) {
      const std::int64_t c = chosen[i];
      row[i] = static_cast<std::int32_t>(c < before_size ? before.begin + c
                                                         : after.begin + (c - before_size));
    }
    std::sort(row, row + chosen.size());
    random_count_[slot] = static_cast<std::int32_t>(chosen.size());
  }

  std::int64_t n_, block_, blocks_, half_, first_, last_, stride_;
  bool causal_;
  std::vector<std::int32_t> random_;        // [heads, blocks, stride_], sorted per query block
  std::vector<std::int32_t> random_count_;  // [heads, blocks]: how many of the stride_ are used
};

class BigBird final : public PatternVariant {
 public:
  static VariantInfo info() {
    return {"bigbird",
            "BigBird ITC: per query block, a centred window of blocks, global first/last blocks "
            "and seeded random blocks",
            {{"block", ParamKind::kInteger, 64, 1, kMaxBlock, "queries and keys per block"},
             {"window", ParamKind::kInteger, 3, 1, kMaxBlocks,
              "odd number of blocks centred on the query block"},
             {"global", ParamKind::kInteger, 2, 0, kMaxBlocks,
              "global blocks: the first ceil(global/2) and the last floor(global/2)"},
             {"random", ParamKind::kInteger, 3, 0, kMaxBlocks,
              "random key blocks per query block and head"},
             {"seed", ParamKind::kInteger, 0, 0, kMaxSeed, "seed of the random blocks"}},
            {"bigbird:block=16,window=3,global=2,random=2,seed=5",
             "bigbird:block=7,window=1,global=1,random=4,seed=1"}};
  }
  explicit BigBird(const VariantConfig& config)
      : PatternVariant(config),
        params_{config.integer("block"), config.integer("window"), config.integer("global"),
                config.integer("random"), static_cast<std::uint64_t>(config.integer("seed"))} {
    if (params_.window % 2 == 0)
      throw std::invalid_argument("bigbird: window=" + std::to_string(params_.window) +
                                  " must be odd: the window is centred on the query block, "
                                  "(window-1)/2 blocks on each side (use " +
                                  std::to_string(params_.window - 1) + " or " +
                                  std::to_string(params_.window + 1) + ")");
  }

  void check(const AttentionShape& shape, bool) const override {
    const std::int64_t blocks = ceil_div(shape.seq_len, params_.block);
    const std::int64_t entries = checked_product(checked_product(shape.heads, blocks, "blocks"),
                                                 std::min(params_.random, blocks), "random table");
    if (entries > kMaxRandomEntries)
      throw std::invalid_argument(
          "bigbird: random=" + std::to_string(params_.random) +
          " with block=" + std::to_string(params_.block) + " needs a table of " +
          std::to_string(entries) + " random blocks for N=" + std::to_string(shape.seq_len) +
          ", H=" + std::to_string(shape.heads) + "; at most " + std::to_string(kMaxRandomEntries) +
          " are allowed (use fewer random blocks or a larger block)");
  }

  std::unique_ptr<BlockPattern> make_pattern(const AttentionShape& shape,
                                             bool causal) const override {
    return std::make_unique<BigBirdPattern>(params_, shape, causal);
  }

  Cost cost(const AttentionShape& s, bool causal, int threads) const override {
    check(s, causal);
    const BigBirdPattern pattern(params_, s, causal);
    return {checked_product(s.batch, pattern.pairs_per_batch_entry(s.heads, s.first_position()),
                            "pairs"),
            block_attention_workspace_bytes(s, threads, params_.block) + pattern.table_bytes()};
  }

 private:
  BigBirdParams params_;
};

const bool kRegistered = register_variant<BigBird>();

}  // namespace
}  // namespace attn
