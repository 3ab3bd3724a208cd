// Oracle top-k attention (the oracle of sparse-attention-hub and of the sparse-frontier
// comparisons): each query attends the k keys with the largest true scores q·k_j (ties: the
// lower index), among j <= p when causal. It scores every pair to choose, so it is no fast
// method: it is the upper bound on accuracy of any method that keeps k keys per query, the
// frontier the query-aware methods are compared against at matched density.
// Per query head. k >= the keys a query sees is full attention.
#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <utility>

#include "attention/bases/gathered_attention.hpp"
#include "attention/bases/selecting_variant.hpp"
#include "attention/core/registry.hpp"

namespace attn {
namespace {

constexpr double kMaxK = 1 << 30;
// Queries scored by one GEMM against every key they may see.
constexpr std::int64_t kQueryChunk = 64;

// The k-th largest of x[0, n) (1 <= k <= n) by a radix select on order-preserving bit patterns:
// three counting passes of 11, 11 and 10 bits, several times faster than nth_element on rows
// of thousands of scores, which dominated the oracle's time.
float kth_largest(const float* x, std::int64_t n, std::int64_t k,
                  std::vector<std::uint32_t>& bits) {
  bits.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    std::uint32_t u = 0;
    std::memcpy(&u, x + i, sizeof u);
    bits[static_cast<std::size_t>(i)] = (u & 0x80000000u) != 0 ? ~u : u | 0x80000000u;
  }
  std::uint32_t prefix = 0, known = 0;  // the answer's bits decided so far, and which
  std::int64_t remaining = k;           // its rank among the keys that share them
  for (const auto& [shift, width] : {std::pair{21, 11}, std::pair{10, 11}, std::pair{0, 10}}) {
    std::array<std::int64_t, 2048> count{};
    const std::uint32_t digit_mask = (1u << width) - 1;
    for (const std::uint32_t u : bits)
      if ((u & known) == prefix) ++count[(u >> shift) & digit_mask];
    for (std::int64_t digit = digit_mask; digit >= 0; --digit) {
      if (remaining <= count[static_cast<std::size_t>(digit)]) {
        prefix |= static_cast<std::uint32_t>(digit) << shift;
        known |= digit_mask << shift;
        break;
      }
      remaining -= count[static_cast<std::size_t>(digit)];
    }
  }
  const std::uint32_t u = (prefix & 0x80000000u) != 0 ? prefix & 0x7fffffffu : ~prefix;
  float value = 0;
  std::memcpy(&value, &u, sizeof value);
  return value;
}

class TopK final : public SelectingVariant {
 public:
  static VariantInfo info() {
    return {"topk",
            "oracle top-k: each query attends its k keys with the largest true scores (ties: "
            "the lower index; causal among j <= p); scores every pair, an accuracy bound",
            {{"k", ParamKind::kInteger, 256, 1, kMaxK, "keys per query"}},
            {"topk:k=1", "topk:k=17", "topk:k=100"}};
  }
  explicit TopK(const VariantConfig& config) : SelectingVariant(config), k_(config.integer("k")) {}

  bool chooses_per_query() const override { return true; }

  std::shared_ptr<const Selection> select(const AttentionInputs& in) const override {
    return choose_keys_by_score(in, kQueryChunk, [this] {
      return [this, bits = std::vector<std::uint32_t>()](const float* row, std::int64_t visible,
                                                         std::vector<std::int32_t>& keys) mutable {
        const std::int64_t k = std::min(k_, visible);
        keys.clear();
        if (k == visible) {
          for (std::int64_t j = 0; j < visible; ++j) keys.push_back(static_cast<std::int32_t>(j));
        } else {
          // The k-th largest score, then every key above it and the lowest-index ties.
          const float threshold = kth_largest(row, visible, k, bits);
          std::int64_t above = 0;
          for (std::int64_t j = 0; j < visible; ++j) above += row[j] > threshold ? 1 : 0;
          std::int64_t ties = k - above;
          for (std::int64_t j = 0; j < visible; ++j)
            if (row[j] > threshold || (row[j] == threshold && ties-- > 0))
              keys.push_back(static_cast<std::int32_t>(j));
        }
      };
    });
  }

  Cost cost(const AttentionShape& s, bool causal, int threads) const override {
    // Query p sees min(k, p + 1) keys causally, min(k, N) otherwise.
    const std::int64_t per_problem =
        causal ? sum_of_capped(s.first_position() + 1, s.seq_len + 1, k_)
               : checked_product(s.query_len, std::min(k_, s.seq_len), "pairs");
    // The lists (a vector per query), and per thread a chunk's scores and their copy.
    const std::int64_t lists =
        checked_product(s.problems(), 4 * per_problem + 24 * s.query_len, "bytes");
    const std::int64_t scores = threads * 4 * (kQueryChunk + 1) * s.seq_len;
    return {checked_product(s.problems(), per_problem, "pairs"),
            lists + scores + gathered_attention_workspace_bytes(s, threads, k_)};
  }

 private:
  std::int64_t k_;
};

const bool kRegistered = register_variant<TopK>();

}  // namespace
}  // namespace attn
