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
#include <memory>
#include <vector>

#include "attention/bases/selecting_variant.hpp"
#include "attention/bases/vertical_slash_pattern.hpp"
#include "attention/core/registry.hpp"
#include "attention/engine/block_engine.hpp"

namespace attn {
namespace {

constexpr double kMaxCount = 1 << 30;

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
