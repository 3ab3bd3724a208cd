// Vertical-slash attention (MInference, Jiang et al., 2024): the last `last` queries of the call
// estimate the pattern. Their exact softmax attention over the keys (causal: j <= p) is summed
// per key column j and per diagonal offset o = p - j; every query then attends the `vertical`
// columns and the `slash` diagonals with the most mass (ties: the lower column, the lower
// offset), causal when --causal. Without --causal offsets run from -(N-1) to N-1 (a diagonal
// above the main one reaches keys after the query); with it from 0 to N-1.
// Per query head: the heads of a kv group choose apart, and the engine attends the union of
// their ranges once per group, masking each head to its own.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "attention/bases/selecting_variant.hpp"
#include "attention/core/registry.hpp"
#include "attention/engine/block_engine.hpp"

namespace attn {
namespace {

constexpr double kMaxCount = 1 << 30;

// Columns and diagonal offsets per (batch, query head).
class VerticalSlashPattern final : public SelectedPattern {
 public:
  VerticalSlashPattern(const AttentionShape& shape, bool causal)
      : shape_(shape),
        causal_(causal),
        columns_(static_cast<std::size_t>(shape.problems())),
        offsets_(columns_.size()),
        is_column_(columns_.size()) {}

  // Sets problem (b, h)'s columns and offsets, each ascending.
  void set(std::int64_t b, std::int64_t h, std::vector<std::int64_t> columns,
           std::vector<std::int64_t> offsets) {
    const std::size_t at = index(b, h);
    is_column_[at].assign(static_cast<std::size_t>(shape_.seq_len), 0);
    for (std::int64_t c : columns) is_column_[at][static_cast<std::size_t>(c)] = 1;
    columns_[at] = std::move(columns);
    offsets_[at] = std::move(offsets);
  }

  void key_ranges(std::int64_t b, std::int64_t h, std::int64_t q_begin, std::int64_t q_end,
                  std::vector<KeyRange>& out) const override {
    out.clear();
    thread_local std::vector<KeyRange> pieces;
    pieces.clear();
    const std::size_t at = index(b, h);
    const std::int64_t n = shape_.seq_len, key_end = causal_ ? q_end : n;
    for (std::int64_t c : columns_[at]) {
      if (c >= key_end) break;
      // Every query of the block sees a column at or before its first query.
      pieces.push_back({c, c + 1, causal_ && c > q_begin});
    }
    for (std::int64_t o : offsets_[at]) {
      const std::int64_t lo = std::max<std::int64_t>(0, q_begin - o);
      const std::int64_t hi = std::min(key_end, q_end - o);
      if (lo < hi) pieces.push_back({lo, hi, true});
    }
    std::sort(pieces.begin(), pieces.end(),
              [](const KeyRange& x, const KeyRange& y) { return x.begin < y.begin; });
    // Overlapping pieces merge, masked if any of them is.
    for (std::size_t i = 0; i < pieces.size();) {
      KeyRange merged = pieces[i++];
      while (i < pieces.size() && pieces[i].begin < merged.end) {
        merged.end = std::max(merged.end, pieces[i].end);
        merged.masked = merged.masked || pieces[i].masked;
        ++i;
      }
      append_key_range(out, merged.begin, merged.end, merged.masked);
    }
  }

  bool allowed(std::int64_t b, std::int64_t h, std::int64_t q, std::int64_t k) const override {
    if (k < 0 || k >= shape_.seq_len || (causal_ && k > q)) return false;
    const std::size_t at = index(b, h);
    if (is_column_[at][static_cast<std::size_t>(k)]) return true;
    return std::binary_search(offsets_[at].begin(), offsets_[at].end(), q - k);
  }

  void mask_tile(std::int64_t b, std::int64_t h, std::int64_t q_begin, std::int64_t q_end,
                 std::int64_t k_begin, std::int64_t k_end, float* scores,
                 std::int64_t ld) const override {
    constexpr float kNegInf = -std::numeric_limits<float>::infinity();
    const std::size_t at = index(b, h);
    const std::vector<std::int64_t>& offsets = offsets_[at];
    const char* is_column = is_column_[at].data();
    thread_local std::vector<char> keep;
    for (std::int64_t q = q_begin; q < q_end; ++q) {
      keep.assign(is_column + k_begin, is_column + k_end);
      // Diagonals through this tile: offsets in (q - k_end, q - k_begin].
      for (auto o = std::upper_bound(offsets.begin(), offsets.end(), q - k_end);
           o != offsets.end() && *o <= q - k_begin; ++o)
        keep[static_cast<std::size_t>(q - *o - k_begin)] = 1;
      float* row = scores + (q - q_begin) * ld;
      for (std::int64_t k = k_begin; k < k_end; ++k)
        if (!keep[static_cast<std::size_t>(k - k_begin)] || (causal_ && k > q))
          row[k - k_begin] = kNegInf;
    }
  }

  std::int64_t pairs() const override {
    std::int64_t total = 0;
    const std::int64_t n = shape_.seq_len;
    for (std::size_t at = 0; at < columns_.size(); ++at)
      for (std::int64_t i = 0; i < shape_.query_len; ++i) {
        const std::int64_t p = shape_.position(i), key_end = causal_ ? p + 1 : n;
        const auto& columns = columns_[at];
        total += std::lower_bound(columns.begin(), columns.end(), key_end) - columns.begin();
        for (std::int64_t o : offsets_[at]) {
          const std::int64_t k = p - o;
          if (k >= 0 && k < key_end && !is_column_[at][static_cast<std::size_t>(k)]) ++total;
        }
      }
    return total;
  }

 private:
  std::size_t index(std::int64_t b, std::int64_t h) const {
    return static_cast<std::size_t>(b * shape_.heads + h);
  }

  AttentionShape shape_;
  bool causal_;
  std::vector<std::vector<std::int64_t>> columns_, offsets_;
  std::vector<std::vector<char>> is_column_;  // [problem][key]: whether the key is a column
};

class VerticalSlash final : public SelectingVariant {
 public:
  static VariantInfo info() {
    return {
        "vertical_slash",
        "MInference vertical-slash: the key columns and diagonals with the most attention "
        "mass from the last `last` queries; every query attends those (causal: j <= p)",
        {{"vertical", ParamKind::kInteger, 1000, 0, kMaxCount, "key columns every query attends"},
         {"slash", ParamKind::kInteger, 200, 0, kMaxCount,
          "diagonals (offsets p - j) every query attends"},
         {"last", ParamKind::kInteger, 64, 1, kMaxCount,
          "last queries whose attention estimates the pattern"}},
        {"vertical_slash:vertical=8,slash=4,last=16", "vertical_slash:vertical=0,slash=9,last=3",
         "vertical_slash:vertical=30,slash=0,last=64"}};
  }
  explicit VerticalSlash(const VariantConfig& config)
      : SelectingVariant(config),
        vertical_(config.integer("vertical")),
        slash_(config.integer("slash")),
        last_(config.integer("last")) {}

  bool chooses_per_query() const override { return false; }

  std::shared_ptr<const Selection> select(const AttentionInputs& in) const override {
    const AttentionShape s = in.shape();
    const std::int64_t d = s.head_dim, n = s.seq_len, m = s.query_len;
    const std::int64_t rows = std::min(last_, m), i0 = m - rows;
    auto pattern = std::make_unique<VerticalSlashPattern>(s, in.causal);
    tbb::parallel_for(std::int64_t{0}, s.problems(), [&](std::int64_t bh) {
      const std::int64_t b = bh / s.heads, h = bh % s.heads;
      std::vector<float> scores(static_cast<std::size_t>(rows * n));
      score_rows(in.q.row(b, h, i0), rows, in.k_head(b, h), n, d, in.scale, scores.data(), n);
      // Offset o = p - j is stored at o + n - 1, so that negative offsets fit.
      std::vector<float> column_mass(static_cast<std::size_t>(n), 0.0f);
      std::vector<float> diagonal_mass(static_cast<std::size_t>(2 * n - 1), 0.0f);
      for (std::int64_t r = 0; r < rows; ++r) {
        float* row = scores.data() + r * n;
        const std::int64_t p = s.position(i0 + r), visible = in.causal ? p + 1 : n;
        const float top = *std::max_element(row, row + visible);
        double total = 0;
        for (std::int64_t j = 0; j < visible; ++j) total += row[j] = std::exp(row[j] - top);
        const auto inv = static_cast<float>(1.0 / total);
        for (std::int64_t j = 0; j < visible; ++j) {
          column_mass[static_cast<std::size_t>(j)] += row[j] * inv;
          diagonal_mass[static_cast<std::size_t>(p - j + n - 1)] += row[j] * inv;
        }
      }
      std::vector<std::int32_t> chosen;
      top_k_except(column_mass.data(), n, -1, vertical_, chosen);
      std::vector<std::int64_t> columns(chosen.begin(), chosen.end());
      // Causal offsets are 0..n-1 (indices n-1..2n-2); otherwise every index.
      const std::int64_t first = in.causal ? n - 1 : 0;
      top_k_except(diagonal_mass.data() + first, 2 * n - 1 - first, -1, slash_, chosen);
      std::vector<std::int64_t> offsets;
      for (std::int32_t c : chosen) offsets.push_back(c + first - (n - 1));
      pattern->set(b, h, std::move(columns), std::move(offsets));
    });
    return std::make_shared<PatternSelection>(std::move(pattern), s);
  }

  Cost cost(const AttentionShape& s, bool causal, int threads) const override {
    const std::int64_t per_query = std::min(s.seq_len, vertical_ + slash_);
    const std::int64_t per_problem = std::min(checked_product(s.query_len, per_query, "pairs"),
                                              dense_pairs_per_problem(s, causal));
    const std::int64_t tables = s.problems() * (s.seq_len + 8 * (vertical_ + slash_) + 64);
    const std::int64_t scratch = threads * 4 * (std::min(last_, s.query_len) + 3) * s.seq_len;
    return {checked_product(s.problems(), per_problem, "pairs"),
            block_attention_workspace_bytes(s, threads) + tables + scratch};
  }

 private:
  std::int64_t vertical_, slash_, last_;
};

const bool kRegistered = register_variant<VerticalSlash>();

}  // namespace
}  // namespace attn
