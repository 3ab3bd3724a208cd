// DeepSeek Sparse Attention (DeepSeek-V3.2-Exp, 2025): a lightning indexer scores every cached
// token for each query token, I(t, s) = Σ_j w_j · ReLU(q^I_{t,j} · k^I_s,j), with a few
// low-dimensional indexer heads j, and the query attends the k tokens with the largest I (ties:
// the lower index; causal: s <= t). The selection is per token, shared by every head that reads
// the same keys (here the query heads of a kv group), as DSA shares it across MLA's heads.
//
// Without trained indexer weights the indexer is a fixed, seeded sketch of the true scores:
// indexer head j projects both the query and the key with one random sign matrix R_j (`dim`
// rows of ±1/sqrt(dim), from `seed`), so q^I·k^I is an unbiased estimate of q·k; the query is
// the mean of the kv group's query vectors; the weights are w_j = 1 / heads. The ReLU, the
// per-head sum and the top-k are DSA's.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "attention/bases/gathered_attention.hpp"
#include "attention/bases/selecting_variant.hpp"
#include "attention/core/random.hpp"
#include "attention/core/registry.hpp"
#include "attention/engine/block_engine.hpp"
#include "attention/numeric/gemm.hpp"

namespace attn {
namespace {

constexpr double kMaxK = 1 << 30;
// Query tokens scored by one GEMM per indexer head.
constexpr std::int64_t kQueryChunk = 64;

class Dsa final : public SelectingVariant {
 public:
  static VariantInfo info() {
    return {"dsa",
            "DeepSeek sparse attention: a lightning indexer (ReLU of low-dimensional per-head "
            "scores, summed) picks each query token's top-k keys, shared by its kv group; the "
            "indexer a seeded random sketch of Q·K",
            {{"k", ParamKind::kInteger, 2048, 1, kMaxK, "keys per query token"},
             {"heads", ParamKind::kInteger, 4, 1, 64, "indexer heads"},
             {"dim", ParamKind::kInteger, 32, 1, 512, "indexer head dimension"},
             {"seed", ParamKind::kInteger, 0, 0, 1e9, "seed of the indexer projections"}},
            {"dsa:k=17,heads=2,dim=8,seed=3", "dsa:k=1,heads=1,dim=4", "dsa:k=100,heads=8,dim=16"}};
  }
  explicit Dsa(const VariantConfig& config)
      : SelectingVariant(config),
        k_(config.integer("k")),
        heads_(config.integer("heads")),
        dim_(config.integer("dim")),
        seed_(static_cast<std::uint64_t>(config.integer("seed"))) {}

  bool chooses_per_query() const override { return true; }
  bool group_chooses_together() const override { return true; }

  // Row j · dim + r is row r of indexer head j's projection R_j: ±1/sqrt(dim) by the seed.
  std::vector<float> projections(std::int64_t head_dim) const {
    std::vector<float> out(static_cast<std::size_t>(heads_ * dim_ * head_dim));
    const float magnitude = 1.0f / std::sqrt(static_cast<float>(dim_));
    for (std::int64_t j = 0; j < heads_; ++j) {
      SplitMix64 gen(mix_seed(seed_, static_cast<std::uint64_t>(j)));
      for (std::int64_t i = 0; i < dim_ * head_dim; ++i)
        out[static_cast<std::size_t>(j * dim_ * head_dim + i)] =
            (gen.next() >> 63) != 0 ? magnitude : -magnitude;
    }
    return out;
  }

  std::shared_ptr<const Selection> select(const AttentionInputs& in) const override {
    const AttentionShape s = in.shape();
    const std::int64_t d = s.head_dim, n = s.seq_len, m = s.query_len, g = s.group();
    if (k_ >= n) {
      // The budget holds every key: each query attends all it may see, as one block pattern on
      // the engine rather than a list of every key per query.
      auto all = std::make_unique<KeyBlockPattern>(s, in.causal, n, 1, 1);
      for (std::int64_t bh = 0; bh < s.problems(); ++bh)
        for (std::int64_t group = 0; group < all->groups(); ++group)
          all->blocks(bh / s.heads, bh % s.heads, group)[0] = 0;
      all->finish();
      return std::make_shared<PatternSelection>(std::move(all), s);
    }
    const std::int64_t width = heads_ * dim_;
    const std::vector<float> proj = projections(d);
    // The indexer keys of every (batch, kv head): N × width, head j in columns [j·dim, ...).
    AlignedBuffer<float> index_keys(static_cast<std::size_t>(s.batch * s.kv_heads * n * width));
    tbb::parallel_for(std::int64_t{0}, s.batch * s.kv_heads, [&](std::int64_t bk) {
      sgemm(true, n, width, d, 1.0f, in.k.head(bk / s.kv_heads, bk % s.kv_heads), d, proj.data(), d,
            0.0f, index_keys.data() + bk * n * width, width);
    });
    auto selection = std::make_shared<KeyListSelection>(s);
    const std::int64_t chunks = (m + kQueryChunk - 1) / kQueryChunk;
    const float weight = 1.0f / static_cast<float>(heads_);
    tbb::parallel_for(std::int64_t{0}, s.batch * s.kv_heads * chunks, [&](std::int64_t item) {
      const std::int64_t bk = item / chunks, b = bk / s.kv_heads, kv = bk % s.kv_heads;
      const std::int64_t i0 = item % chunks * kQueryChunk, rows = std::min(kQueryChunk, m - i0);
      const std::int64_t cols = in.causal ? s.position(i0 + rows - 1) + 1 : n;
      // The token's query: the mean of its kv group's query vectors, then projected.
      std::vector<float> query(static_cast<std::size_t>(rows * d), 0.0f);
      for (std::int64_t h = kv * g; h < (kv + 1) * g; ++h)
        for (std::int64_t r = 0; r < rows; ++r) {
          const float* q = in.q.row(b, h, i0 + r);
          for (std::int64_t e = 0; e < d; ++e)
            query[static_cast<std::size_t>(r * d + e)] += q[e] / static_cast<float>(g);
        }
      std::vector<float> index_query(static_cast<std::size_t>(rows * width));
      sgemm(true, rows, width, d, 1.0f, query.data(), d, proj.data(), d, 0.0f, index_query.data(),
            width);
      std::vector<float> head_scores(static_cast<std::size_t>(rows * cols));
      std::vector<float> scores(static_cast<std::size_t>(rows * cols), 0.0f);
      const float* keys = index_keys.data() + bk * n * width;
      for (std::int64_t j = 0; j < heads_; ++j) {
        sgemm(true, rows, cols, dim_, 1.0f, index_query.data() + j * dim_, width, keys + j * dim_,
              width, 0.0f, head_scores.data(), cols);
        for (std::size_t i = 0; i < scores.size(); ++i)
          scores[i] += weight * std::max(head_scores[i], 0.0f);
      }
      std::vector<std::uint32_t> bits;
      std::vector<std::int32_t> chosen;
      for (std::int64_t r = 0; r < rows; ++r) {
        const std::int64_t visible = in.causal ? s.position(i0 + r) + 1 : n;
        top_k_keys(scores.data() + r * cols, visible, k_, bits, chosen);
        for (std::int64_t h = kv * g; h < (kv + 1) * g; ++h)
          selection->set_row(b, h, i0 + r, chosen);
      }
    });
    return selection;
  }

  Cost cost(const AttentionShape& s, bool causal, int threads) const override {
    if (k_ >= s.seq_len)
      return {checked_product(s.problems(), dense_pairs_per_problem(s, causal), "pairs"),
              block_attention_workspace_bytes(s, threads) + 4 * s.problems() * s.query_len};
    const std::int64_t per_problem =
        causal ? sum_of_capped(s.first_position() + 1, s.seq_len + 1, k_)
               : checked_product(s.query_len, std::min(k_, s.seq_len), "pairs");
    const std::int64_t width = heads_ * dim_;
    const std::int64_t lists =
        checked_product(s.problems(), 4 * per_problem + 24 * s.query_len, "bytes");
    const std::int64_t index_keys =
        checked_product(s.batch * s.kv_heads * s.seq_len, 4 * width, "bytes");
    // Per thread a chunk's indexer queries, its two score rows and the selection's scratch.
    const std::int64_t scratch =
        threads * 4 * (kQueryChunk * (s.head_dim + width + 3 * s.seq_len) + s.seq_len);
    return {checked_product(s.problems(), per_problem, "pairs"),
            lists + index_keys + scratch + 4 * width * s.head_dim +
                gathered_attention_workspace_bytes(s, threads, k_)};
  }

 private:
  std::int64_t k_, heads_, dim_;
  std::uint64_t seed_;
};

const bool kRegistered = register_variant<Dsa>();

}  // namespace
}  // namespace attn
