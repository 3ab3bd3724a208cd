// Oracle top-p attention (sparse-attention-hub's oracle top-p): each query attends the smallest
// key set whose softmax mass is at least p, taking keys in decreasing probability (ties: the
// lower index); causal among j <= p. Like topk it scores every pair (and sorts each row), so it
// is an accuracy bound, not a fast method; p = 1 is full attention.
// The mass is summed in fp64 in that order, and the set ends at the first key where the sum
// reaches p times the total summed the same way.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <numeric>

#include "attention/bases/gathered_attention.hpp"
#include "attention/bases/selecting_variant.hpp"
#include "attention/core/registry.hpp"

namespace attn {
namespace {

constexpr std::int64_t kQueryChunk = 64;

class TopP final : public SelectingVariant {
 public:
  static VariantInfo info() {
    return {"topp",
            "oracle top-p: each query attends the fewest keys, in decreasing probability (ties: "
            "the lower index), whose softmax mass is >= p; scores every pair, an accuracy bound",
            {{"p", ParamKind::kReal, 0.9, 0.001, 1.0, "softmax mass each query keeps"}},
            {"topp:p=0.3"}};
  }
  explicit TopP(const VariantConfig& config) : SelectingVariant(config), p_(config.real("p")) {}

  bool chooses_per_query() const override { return true; }

  std::shared_ptr<const Selection> select(const AttentionInputs& in) const override {
    return choose_keys_by_score(in, kQueryChunk, [this, &in] {
      return [this, &in, order = std::vector<std::int32_t>(), packed = std::vector<std::uint64_t>(),
              weight = std::vector<double>()](const float* row, std::int64_t visible,
                                              std::vector<std::int32_t>& keys) mutable {
        // Decreasing score, then increasing index, as one ascending 64-bit key per key: the
        // score's order-preserving bits inverted, above the index (an integer sort, no
        // indirection through the scores).
        packed.resize(static_cast<std::size_t>(visible));
        for (std::int64_t j = 0; j < visible; ++j) {
          std::uint32_t u = 0;
          std::memcpy(&u, row + j, sizeof u);
          const std::uint32_t ascending = (u & 0x80000000u) != 0 ? ~u : u | 0x80000000u;
          packed[static_cast<std::size_t>(j)] =
              static_cast<std::uint64_t>(~ascending) << 32 | static_cast<std::uint64_t>(j);
        }
        std::sort(packed.begin(), packed.end());
        order.resize(packed.size());
        for (std::size_t x = 0; x < packed.size(); ++x)
          order[x] = static_cast<std::int32_t>(packed[x] & 0xffffffffu);
        const double top = row[order[0]];
        weight.resize(order.size());
        double total = 0;
        for (std::size_t t = 0; t < order.size(); ++t) {
          weight[t] = std::exp(static_cast<double>(in.scale) * (row[order[t]] - top));
          total += weight[t];
        }
        double mass = 0;
        std::size_t taken = 0;
        while (taken < order.size() && !(mass >= p_ * total)) mass += weight[taken++];
        keys.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(taken));
        std::sort(keys.begin(), keys.end());
      };
    });
  }

  Cost cost(const AttentionShape& s, bool causal, int threads) const override {
    // At most every visible key (exact counts come from pairs(inputs)).
    const std::int64_t per_problem = dense_pairs_per_problem(s, causal);
    const std::int64_t lists =
        checked_product(s.problems(), 4 * per_problem + 24 * s.query_len, "bytes");
    const std::int64_t scratch = threads * 4 * (kQueryChunk + 4) * s.seq_len;
    return {checked_product(s.problems(), per_problem, "pairs"),
            lists + scratch + gathered_attention_workspace_bytes(s, threads, s.seq_len)};
  }

 private:
  double p_;
};

const bool kRegistered = register_variant<TopP>();

}  // namespace
}  // namespace attn
