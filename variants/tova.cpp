// TOVA, Token Omission Via Attention (Oren et al., 2024): each kv head keeps `budget` cached
// tokens; whenever the cache is over budget, the token the current query attends least is
// dropped for good (its attention averaged over the kv group's query heads, a softmax over the
// kept tokens; ties: the earlier token). At prefill the prompt's last query chooses the budget
// kept, by its attention over all of them.
#include <tbb/parallel_for.h>

#include <algorithm>

#include "attention/bases/evicting_variant.hpp"
#include "attention/core/registry.hpp"

namespace attn {
namespace {

constexpr double kMaxBudget = 1 << 24;

class Tova final : public EvictingVariant {
 public:
  static VariantInfo info() {
    return {"tova",
            "TOVA eviction: per kv head `budget` tokens; each step drops the token the current "
            "query attends least",
            {{"budget", ParamKind::kInteger, 1024, 1, kMaxBudget, "tokens kept per kv head"}},
            {"tova:budget=16", "tova:budget=7", "tova:budget=40"}};
  }
  explicit Tova(const VariantConfig& config)
      : EvictingVariant(config), budget_(config.integer("budget")) {}

  std::int64_t budget() const override { return budget_; }

  void compress(const AttentionInputs& in, KeptKeys& kept) const override {
    const AttentionShape s = in.shape();
    tbb::parallel_for(std::int64_t{0}, s.batch * s.kv_heads, [&](std::int64_t bk) {
      std::vector<double> attention;
      window_attention(in, bk / s.kv_heads, bk % s.kv_heads, 1, attention);
      KeptKeys::Head& head = kept.head(bk);
      head.keys = best_positions(attention, s.seq_len, budget_);
      std::sort(head.keys.begin(), head.keys.end());
      head.scores.clear();
      for (std::int32_t j : head.keys) head.scores.push_back(attention[j]);
    });
  }

  void append(const AttentionInputs& step, KeptKeys& kept) const override {
    const AttentionShape s = step.shape();
    tbb::parallel_for(std::int64_t{0}, s.batch * s.kv_heads, [&](std::int64_t bk) {
      KeptKeys::Head& head = kept.head(bk);
      head.keys.push_back(static_cast<std::int32_t>(s.seq_len - 1));
      attention_over(step, bk / s.kv_heads, bk % s.kv_heads, head.keys, head.scores);
      if (static_cast<std::int64_t>(head.keys.size()) <= budget_) return;
      const auto drop =
          std::min_element(head.scores.begin(), head.scores.end()) - head.scores.begin();
      head.keys.erase(head.keys.begin() + drop);
      head.scores.erase(head.scores.begin() + drop);
    });
  }

 private:
  std::int64_t budget_;
};

const bool kRegistered = register_variant<Tova>();

}  // namespace
}  // namespace attn
