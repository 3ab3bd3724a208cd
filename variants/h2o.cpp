// H2O, Heavy-Hitter Oracle (Zhang et al., 2023): each kv head keeps `budget` cached tokens, the
// `recent` most recent ones and, for the rest, the heavy hitters: the tokens with the largest
// attention accumulated over every query so far. At prefill the accumulated attention is that of
// the observation window (the prompt's last queries, each head's softmax over the keys it sees,
// averaged over the kv group's query heads); at each step the new token enters with nothing
// accumulated, the step's query adds its attention over the kept tokens, and when the cache is
// over budget the non-recent token with the least accumulated attention is dropped for good
// (ties: the earlier one). The query then attends the budget kept.
#include <tbb/parallel_for.h>

#include <algorithm>

#include "attention/bases/evicting_variant.hpp"
#include "attention/core/registry.hpp"

namespace attn {
namespace {

constexpr double kMaxBudget = 1 << 24;

class H2O final : public EvictingVariant {
 public:
  static VariantInfo info() {
    return {"h2o",
            "H2O eviction: per kv head the `recent` newest tokens plus the heavy hitters by "
            "accumulated attention, `budget` in all; the least-attended is dropped each step",
            {{"budget", ParamKind::kInteger, 1024, 1, kMaxBudget, "tokens kept per kv head"},
             {"recent", ParamKind::kInteger, 512, 0, kMaxBudget,
              "most recent tokens always kept (at most the budget)"}},
            {"h2o:budget=16,recent=4", "h2o:budget=9,recent=9", "h2o:budget=20,recent=0"}};
  }
  explicit H2O(const VariantConfig& config)
      : EvictingVariant(config),
        budget_(config.integer("budget")),
        recent_(config.integer("recent")) {
    if (recent_ > budget_)
      throw std::invalid_argument("h2o: recent=" + std::to_string(recent_) + " is above budget=" +
                                  std::to_string(budget_) + "; allowed: recent 0 to budget");
  }

  std::int64_t budget() const override { return budget_; }

  void compress(const AttentionInputs& in, KeptKeys& kept) const override {
    const AttentionShape s = in.shape();
    const std::int64_t n = s.seq_len, recent_begin = std::max<std::int64_t>(0, n - recent_);
    tbb::parallel_for(std::int64_t{0}, s.batch * s.kv_heads, [&](std::int64_t bk) {
      std::vector<double> accumulated;
      window_attention(in, bk / s.kv_heads, bk % s.kv_heads, s.query_len, accumulated);
      KeptKeys::Head& head = kept.head(bk);
      head.keys = best_positions(accumulated, recent_begin, budget_ - (n - recent_begin));
      for (std::int64_t j = recent_begin; j < n; ++j)
        head.keys.push_back(static_cast<std::int32_t>(j));
      std::sort(head.keys.begin(), head.keys.end());
      head.scores.clear();
      for (std::int32_t j : head.keys) head.scores.push_back(accumulated[j]);
    });
  }

  void append(const AttentionInputs& step, KeptKeys& kept) const override {
    const AttentionShape s = step.shape();
    const std::int64_t n = s.seq_len;
    tbb::parallel_for(std::int64_t{0}, s.batch * s.kv_heads, [&](std::int64_t bk) {
      KeptKeys::Head& head = kept.head(bk);
      head.keys.push_back(static_cast<std::int32_t>(n - 1));
      head.scores.push_back(0.0);
      std::vector<double> attention;
      attention_over(step, bk / s.kv_heads, bk % s.kv_heads, head.keys, attention);
      for (std::size_t j = 0; j < attention.size(); ++j) head.scores[j] += attention[j];
      if (static_cast<std::int64_t>(head.keys.size()) <= budget_) return;
      // The candidates are the kept tokens before the recent window: a prefix of the list.
      const auto candidates = static_cast<std::size_t>(
          std::lower_bound(head.keys.begin(), head.keys.end(), n - recent_) - head.keys.begin());
      std::size_t drop = 0;
      for (std::size_t j = 1; j < candidates; ++j)
        if (head.scores[j] < head.scores[drop]) drop = j;
      head.keys.erase(head.keys.begin() + static_cast<std::ptrdiff_t>(drop));
      head.scores.erase(head.scores.begin() + static_cast<std::ptrdiff_t>(drop));
    });
  }

 private:
  std::int64_t budget_, recent_;
};

const bool kRegistered = register_variant<H2O>();

}  // namespace
}  // namespace attn
