// Quest (Tang et al., 2024), query-aware page selection for decode: keys are cut into pages of
// `page` positions, each with the per-dimension minimum and maximum of its K rows. A query q
// bounds a page's scores by Σ_d max(q_d·min_d, q_d·max_d) and attends the `pages` pages with the
// largest bounds (ties: the lower page) plus the page holding its own position. Causal: the
// candidates are the pages before its own, which is attended up to the query; without --causal
// every other page is a candidate. The bound is q⁺·max + q⁻·min (q⁺ = max(q, 0), q⁻ = min(q, 0)),
// two GEMMs over the page summaries.
// Per query head: the heads of a kv group choose apart, and the engine attends the union of
// their pages once per group, masking each head and query to its own.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "attention/bases/block_choice.hpp"
#include "attention/bases/block_summary_variant.hpp"
#include "attention/core/registry.hpp"
#include "attention/numeric/gemm.hpp"
#include "attention/numeric/microkernel.hpp"

namespace attn {
namespace {

constexpr double kMaxPage = 1 << 20;
constexpr double kMaxPages = 1 << 24;
constexpr std::int64_t kQueryChunk = 64;

class Quest final : public BlockSummaryVariant {
 public:
  static VariantInfo info() {
    return {"quest",
            "Quest page selection: each query attends the `pages` key pages with the largest "
            "upper bound Σ_d max(q_d·min_d, q_d·max_d) over the page's K, plus its own page",
            {{"page", ParamKind::kInteger, 16, 1, kMaxPage, "keys per page"},
             {"pages", ParamKind::kInteger, 64, 0, kMaxPages,
              "pages each query chooses besides its own"}},
            {"quest:page=16,pages=3", "quest:page=5,pages=7", "quest:page=64,pages=1"}};
  }
  explicit Quest(const VariantConfig& config)
      : BlockSummaryVariant(config, KeyBlockSummaries::Kind::kMinMax, config.integer("page")),
        choice_{config.integer("page"), 1, config.integer("pages"), kQueryChunk} {}

  bool chooses_per_query() const override { return true; }

  std::shared_ptr<const Selection> select_from_summaries(
      const AttentionInputs& in, const KeyBlockSummaries& bounds) const override {
    const AttentionShape s = in.shape();
    const std::int64_t d = s.head_dim, count = choice_.key_blocks(s.seq_len);
    // [q⁺ ; q⁻] of `rows` queries of head h from query i0, into `split`.
    const auto split_queries = [&](std::int64_t b, std::int64_t h, std::int64_t i0,
                                   std::int64_t rows, float* split) {
      const float* q = in.q.row(b, h, i0);
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t e = 0; e < d; ++e) {
          split[r * 2 * d + e] = std::max(q[r * d + e], 0.0f);
          split[r * 2 * d + d + e] = std::min(q[r * d + e], 0.0f);
        }
    };
    if (s.query_len * s.group() <= kernel::kFewRows) {
      // Decode: the query heads of a kv group score its page bounds in one product, which reads
      // the bounds (2/page of K's bytes) once per group instead of once per head.
      const std::int64_t per_group = s.group() * s.query_len;
      std::vector<float> all(static_cast<std::size_t>(s.problems() * s.query_len * count));
      tbb::parallel_for(std::int64_t{0}, s.batch * s.kv_heads, [&](std::int64_t bk) {
        const std::int64_t b = bk / s.kv_heads, h0 = bk % s.kv_heads * s.group();
        std::vector<float> split(static_cast<std::size_t>(per_group * 2 * d));
        for (std::int64_t g = 0; g < s.group(); ++g)
          split_queries(b, h0 + g, 0, s.query_len, split.data() + g * s.query_len * 2 * d);
        score_rows(split.data(), per_group, bounds.head(b, bk % s.kv_heads), count, 2 * d, 1.0f,
                   all.data() + (b * s.heads + h0) * s.query_len * count, count);
      });
      return choose_key_blocks(
          in, choice_,
          [&](std::int64_t b, std::int64_t h, std::int64_t i0, std::int64_t rows, float* scores) {
            std::copy_n(all.data() + ((b * s.heads + h) * s.query_len + i0) * count, rows * count,
                        scores);
          });
    }
    return choose_key_blocks(
        in, choice_,
        [&](std::int64_t b, std::int64_t h, std::int64_t i0, std::int64_t rows, float* scores) {
          std::vector<float> split(static_cast<std::size_t>(rows * 2 * d));
          split_queries(b, h, i0, rows, split.data());
          score_rows(split.data(), rows, bounds.head(b, s.kv_head(h)), count, 2 * d, 1.0f, scores,
                     count);
        });
  }

  Cost cost(const AttentionShape& s, bool causal, int threads) const override {
    const std::int64_t count = choice_.key_blocks(s.seq_len);
    // The bounds, each task's scores and split queries, and at decode every head's scores.
    const std::int64_t decode_scores =
        s.query_len * s.group() <= kernel::kFewRows ? s.problems() * s.query_len * count : 0;
    const std::int64_t scratch =
        4 * (2 * s.batch * s.kv_heads * count * s.head_dim +
             threads * kQueryChunk * (count + 2 * s.head_dim) + decode_scores);
    return block_choice_cost(s, causal, threads, choice_, scratch);
  }

 private:
  BlockChoice choice_;
};

const bool kRegistered = register_variant<Quest>();

}  // namespace
}  // namespace attn
