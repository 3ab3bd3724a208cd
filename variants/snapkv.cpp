// SnapKV (Li et al., 2024): the prompt's cache is compressed once, at prefill, then decoding
// appends every new token. The observation window, the prompt's last `window` queries, scores
// every earlier token by its attention (each query's softmax over the keys it sees, summed over
// the window and averaged over the kv group's query heads); the scores are max-pooled over
// `kernel` neighbouring positions so that a token's neighbours come along, and each kv head
// keeps the window's own tokens plus the best budget - window earlier ones (ties: the earlier).
// adaptive=1 shares one budget among the kv heads instead, as AdaKV (Feng et al., 2024) does:
// the (budget - window) · kv_heads best pooled scores over all heads of a sequence win,
// wherever they are, and each head keeps its window besides.
#include <tbb/parallel_for.h>

#include <algorithm>

#include "attention/bases/evicting_variant.hpp"
#include "attention/core/registry.hpp"

namespace attn {
namespace {

constexpr double kMaxBudget = 1 << 24;
// The prefill inputs a session hands over hold the prompt's last 64 queries.
constexpr double kMaxWindow = 64;

class SnapKv final : public EvictingVariant {
 public:
  static VariantInfo info() {
    return {"snapkv",
            "SnapKV prefill compression: per kv head the observation window's tokens plus the "
            "earlier ones with the largest max-pooled window attention, `budget` in all; decoding "
            "then appends (adaptive=1: one budget shared by the kv heads, as AdaKV)",
            {{"budget", ParamKind::kInteger, 1024, 1, kMaxBudget,
              "tokens kept per kv head at prefill (adaptive: on average)"},
             {"window", ParamKind::kInteger, 32, 1, kMaxWindow,
              "the prompt's last queries that score the cache, whose tokens are kept"},
             {"kernel", ParamKind::kInteger, 7, 1, 1001, "max-pooling width over positions"},
             {"adaptive", ParamKind::kInteger, 0, 0, 1, "1: share the budget among kv heads"}},
            {"snapkv:budget=16,window=4,kernel=3", "snapkv:budget=9,window=9,kernel=1",
             "snapkv:budget=20,window=5,kernel=7,adaptive=1"}};
  }
  explicit SnapKv(const VariantConfig& config)
      : EvictingVariant(config),
        budget_(config.integer("budget")),
        window_(config.integer("window")),
        radius_(config.integer("kernel") / 2),
        adaptive_(config.integer("adaptive") == 1) {
    if (window_ > budget_)
      throw std::invalid_argument("snapkv: window=" + std::to_string(window_) +
                                  " is above budget=" + std::to_string(budget_) +
                                  "; allowed: window 1 to budget (its tokens are always kept)");
  }

  std::int64_t budget() const override { return budget_; }

  void compress(const AttentionInputs& in, KeptKeys& kept) const override {
    const AttentionShape s = in.shape();
    const std::int64_t n = s.seq_len, window_keys = std::min(window_, n);
    const std::int64_t prefix = n - window_keys, choose = budget_ - window_keys;
    // Per kv head: the window's attention, then its max-pooled scores over the prefix.
    std::vector<std::vector<double>> attention(static_cast<std::size_t>(s.batch * s.kv_heads));
    std::vector<std::vector<double>> pooled(attention.size());
    tbb::parallel_for(std::int64_t{0}, s.batch * s.kv_heads, [&](std::int64_t bk) {
      auto& w = attention[static_cast<std::size_t>(bk)];
      window_attention(in, bk / s.kv_heads, bk % s.kv_heads, window_, w);
      auto& p = pooled[static_cast<std::size_t>(bk)];
      p.assign(static_cast<std::size_t>(prefix), 0.0);
      for (std::int64_t j = 0; j < prefix; ++j)
        p[j] = *std::max_element(w.begin() + std::max<std::int64_t>(0, j - radius_),
                                 w.begin() + std::min(prefix, j + radius_ + 1));
    });
    std::vector<std::vector<std::int32_t>> chosen(attention.size());
    if (!adaptive_) {
      for (std::size_t bk = 0; bk < chosen.size(); ++bk)
        chosen[bk] = best_positions(pooled[bk], prefix, choose);
    } else {
      // One ranking over every kv head of a sequence: candidate c is head c / prefix's
      // position c % prefix.
      for (std::int64_t b = 0; b < s.batch; ++b) {
        std::vector<double> all;
        for (std::int64_t kv = 0; kv < s.kv_heads; ++kv) {
          const auto& p = pooled[static_cast<std::size_t>(b * s.kv_heads + kv)];
          all.insert(all.end(), p.begin(), p.end());
        }
        for (std::int32_t c : best_positions(all, prefix * s.kv_heads, choose * s.kv_heads))
          chosen[static_cast<std::size_t>(b * s.kv_heads + c / prefix)].push_back(
              static_cast<std::int32_t>(c % prefix));
      }
    }
    for (std::size_t bk = 0; bk < chosen.size(); ++bk) {
      KeptKeys::Head& head = kept.head(static_cast<std::int64_t>(bk));
      head.keys = std::move(chosen[bk]);
      std::sort(head.keys.begin(), head.keys.end());
      head.scores.clear();
      for (std::int32_t j : head.keys) head.scores.push_back(pooled[bk][j]);
      for (std::int64_t j = prefix; j < n; ++j) {
        head.keys.push_back(static_cast<std::int32_t>(j));
        head.scores.push_back(attention[bk][j]);
      }
    }
  }

  // Decoding keeps every new token: the compression happened once, at prefill.
  void append(const AttentionInputs& step, KeptKeys& kept) const override {
    for (std::int64_t bk = 0; bk < kept.kv_problems(); ++bk) {
      kept.head(bk).keys.push_back(static_cast<std::int32_t>(step.shape().seq_len - 1));
      kept.head(bk).scores.push_back(0.0);
    }
  }

 private:
  std::int64_t budget_, window_, radius_;
  bool adaptive_;
};

const bool kRegistered = register_variant<SnapKv>();

}  // namespace
}  // namespace attn
