// XAttention (Xu et al., 2025, "XAttention: Block Sparse Attention with Antidiagonal Scoring"):
// queries and keys are cut into blocks of `block` absolute positions and into groups of `stride`
// (block a multiple of stride). Query group a scores key group c by the sum along an
// antidiagonal of their stride × stride scores, A[a][c] = scale / stride · Σ_u q_{a·S+S-1-u} ·
// k_{c·S+u} (the terms whose query is one of this call's and whose key exists), which strided
// reshaping makes one product of (N/S) × (S·D) matrices. Each query group's A is softmaxed over
// the key groups it may see (causal: c <= a); a key block's score for a query block is the mean
// over the block's query groups of their softmax mass in it. The query block then attends its
// key blocks in descending score (ties: the lower block) until their cumulative score reaches
// `threshold`, and always its own (diagonal) block. Per query head.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "attention/bases/block_choice.hpp"
#include "attention/bases/selecting_variant.hpp"
#include "attention/core/registry.hpp"

namespace attn {
namespace {

constexpr double kMaxBlock = 1 << 16;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

class XAttention final : public SelectingVariant {
 public:
  static VariantInfo info() {
    return {"xattention",
            "XAttention: key blocks scored by the softmax of strided antidiagonal sums, each "
            "query block attending its best blocks up to a cumulative threshold, plus its own",
            {{"block", ParamKind::kInteger, 128, 1, kMaxBlock, "queries and keys per block"},
             {"stride", ParamKind::kInteger, 8, 1, kMaxBlock,
              "antidiagonal stride; a divisor of block"},
             {"threshold", ParamKind::kReal, 0.9, 0.0, 1.0,
              "cumulative block score each query block keeps"}},
            {"xattention:block=16,stride=4,threshold=0.5", "xattention:block=8,stride=8",
             "xattention:block=12,stride=3,threshold=0.95",
             "xattention:block=16,stride=1,threshold=0"}};
  }
  explicit XAttention(const VariantConfig& config)
      : SelectingVariant(config),
        block_(config.integer("block")),
        stride_(config.integer("stride")),
        threshold_(config.real("threshold")) {
    if (block_ % stride_ != 0)
      throw std::invalid_argument("xattention: block=" + std::to_string(block_) +
                                  " is not a multiple of stride=" + std::to_string(stride_) +
                                  "; allowed: a stride that divides the block");
  }

  // A query block's keys depend on all of its queries' antidiagonals.
  bool chooses_per_query() const override { return false; }

  std::shared_ptr<const Selection> select(const AttentionInputs& in) const override {
    const AttentionShape s = in.shape();
    const bool causal = in.causal;
    const std::int64_t d = s.head_dim, n = s.seq_len, stride = stride_;
    const std::int64_t blocks = (n + block_ - 1) / block_;
    const std::int64_t key_groups = (n + stride - 1) / stride, full_groups = n / stride;
    const std::int64_t wide = stride * d;  // a group's rows side by side
    auto pattern = std::make_unique<KeyBlockPattern>(s, causal, block_, block_, blocks);
    const std::int64_t query_blocks = pattern->groups();
    const std::int64_t first = s.first_position();
    const float alpha = in.scale / static_cast<float>(stride);
    tbb::parallel_for(std::int64_t{0}, s.batch * s.heads * query_blocks, [&](std::int64_t item) {
      const std::int64_t bh = item / query_blocks, b = bh / s.heads, h = bh % s.heads;
      const std::int64_t qb = item % query_blocks, own = pattern->own_block(qb);
      const std::int64_t lo = std::max(own * block_, first), hi = std::min((own + 1) * block_, n);
      const std::int64_t a0 = lo / stride, rows = (hi - 1) / stride - a0 + 1;
      // Reversed query groups: row r holds q_{a·S+S-1}, ..., q_{a·S} (zeros for positions that
      // are not this call's queries), so row · K's group c is the antidiagonal sum.
      std::vector<float> reversed(static_cast<std::size_t>(rows * wide), 0.0f);
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t u = 0; u < stride; ++u) {
          const std::int64_t p = (a0 + r) * stride + stride - 1 - u;
          if (p >= first && p < n)
            std::copy_n(in.q.row(b, h, p - first), d, reversed.data() + r * wide + u * d);
        }
      std::vector<float> scores(static_cast<std::size_t>(rows * key_groups));
      const float* k = in.k_head(b, h);
      if (full_groups > 0)
        score_rows(reversed.data(), rows, k, full_groups, wide, alpha, scores.data(), key_groups);
      if (full_groups < key_groups)  // the short last group: its existing keys only
        for (std::int64_t r = 0; r < rows; ++r) {
          double sum = 0;
          for (std::int64_t u = 0; full_groups * stride + u < n; ++u)
            for (std::int64_t e = 0; e < d; ++e)
              sum += static_cast<double>(reversed[static_cast<std::size_t>(r * wide + u * d + e)]) *
                     k[(full_groups * stride + u) * d + e];
          scores[static_cast<std::size_t>(r * key_groups + full_groups)] =
              static_cast<float>(sum) * alpha;
        }
      // Softmax per query group over the key groups it sees; each group's mass summed by block.
      std::vector<double> block_score(static_cast<std::size_t>(blocks), 0.0);
      for (std::int64_t r = 0; r < rows; ++r) {
        float* row = scores.data() + r * key_groups;
        const std::int64_t seen = causal ? std::min(a0 + r + 1, key_groups) : key_groups;
        const float top = *std::max_element(row, row + seen);
        double total = 0;
        for (std::int64_t c = 0; c < seen; ++c)
          total += std::exp(static_cast<double>(row[c] - top));
        for (std::int64_t c = 0; c < seen; ++c)
          block_score[static_cast<std::size_t>(c * stride / block_)] +=
              std::exp(static_cast<double>(row[c] - top)) / total / static_cast<double>(rows);
      }
      // Best blocks first until the threshold, then the own block.
      const std::vector<std::int64_t> chosen =
          cover_mass(block_score.data(), causal ? own + 1 : blocks, threshold_);
      std::int32_t* slots = pattern->blocks(b, h, qb);
      std::fill_n(slots, blocks, -1);
      for (std::size_t i = 0; i < chosen.size(); ++i)
        slots[i] = static_cast<std::int32_t>(chosen[i]);
      if (std::find(chosen.begin(), chosen.end(), own) == chosen.end())
        slots[chosen.size()] = static_cast<std::int32_t>(own);
    });
    pattern->finish();
    return std::make_shared<PatternSelection>(std::move(pattern), s);
  }

  Cost cost(const AttentionShape& s, bool causal, int threads) const override {
    const BlockChoice choice{block_, block_, (s.seq_len + block_ - 1) / block_,
                             BlockChoice::kAllGroups};
    // Per thread a block's reversed queries and its scores against every key group.
    const std::int64_t rows = block_ / stride_ + 1;
    const std::int64_t scratch =
        threads * (4 * rows * (stride_ * s.head_dim + s.seq_len / stride_ + 1) +
                   8 * ((s.seq_len + block_ - 1) / block_ + 1));
    return block_choice_cost(s, causal, threads, choice, scratch);
  }

 private:
  std::int64_t block_, stride_;
  double threshold_;
};

const bool kRegistered = register_variant<XAttention>();

}  // namespace
}  // namespace attn
