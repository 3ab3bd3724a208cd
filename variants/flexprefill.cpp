// FlexPrefill (Lai et al., 2025, "FlexPrefill: A Context-Aware Sparse Attention Mechanism for
// Efficient Long-Sequence Inference"): each query head chooses its pattern from the data.
// The last `block` queries of the call (L) are attended exactly; their mean attention summed per
// key block is the head's true block distribution v, and a softmax of scale · mean(Q_L) ·
// mean(K_c) over the key blocks c its estimate â. When sqrt(JSD(â, v)) < tau the block means
// predict the attention and the head is query-aware: each query block (of `block` absolute
// positions) scores the key blocks it may see (causal: up to its own) by softmax(scale ·
// mean(Q_I) · mean(K_J)) and attends them best first (ties: the lower block) until their mass
// reaches gamma, plus its own block. Otherwise it is vertical-slash: from L's attention, the key
// blocks (columns) and the blocks of diagonal offsets o = p - j (slashes) with the most mass, each
// best first until gamma, plus the first key block (the sinks) and the diagonal band 0 <= o <
// block; every query attends those columns and diagonals (causal: j <= p). Per query head.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <numeric>
#include <vector>

#include "attention/bases/block_choice.hpp"
#include "attention/bases/selecting_variant.hpp"
#include "attention/bases/vertical_slash_pattern.hpp"
#include "attention/core/registry.hpp"
#include "attention/engine/block_engine.hpp"

namespace attn {
namespace {

constexpr double kMaxBlock = 1 << 16;

// Per head one of the two patterns: the other one holds nothing for that head.
class HeadwisePattern final : public SelectedPattern {
 public:
  HeadwisePattern(const AttentionShape& shape, bool causal, std::int64_t block)
      // Every key block, and the own block once more (dropped as a repeat by finish()).
      : blocks(shape, causal, block, block, (shape.seq_len + block - 1) / block + 1),
        lines(shape, causal),
        heads_(shape.heads),
        query_aware_(static_cast<std::size_t>(shape.problems()), 0) {}

  void set_query_aware(std::int64_t b, std::int64_t h) {
    query_aware_[static_cast<std::size_t>(b * heads_ + h)] = 1;
  }
  bool query_aware(std::int64_t b, std::int64_t h) const {
    return query_aware_[static_cast<std::size_t>(b * heads_ + h)] != 0;
  }

  std::int64_t query_block() const override { return blocks.query_block(); }
  void key_ranges(std::int64_t b, std::int64_t h, std::int64_t q_begin, std::int64_t q_end,
                  std::vector<KeyRange>& out) const override {
    if (query_aware(b, h))
      blocks.key_ranges(b, h, q_begin, q_end, out);
    else
      lines.key_ranges(b, h, q_begin, q_end, out);
  }
  bool allowed(std::int64_t b, std::int64_t h, std::int64_t q, std::int64_t k) const override {
    return query_aware(b, h) ? blocks.allowed(b, h, q, k) : lines.allowed(b, h, q, k);
  }
  void mask_tile(std::int64_t b, std::int64_t h, std::int64_t q_begin, std::int64_t q_end,
                 std::int64_t k_begin, std::int64_t k_end, float* scores,
                 std::int64_t ld) const override {
    if (query_aware(b, h))
      blocks.mask_tile(b, h, q_begin, q_end, k_begin, k_end, scores, ld);
    else
      lines.mask_tile(b, h, q_begin, q_end, k_begin, k_end, scores, ld);
  }
  // A head's lists are empty in the pattern it does not use, so the two totals add.
  std::int64_t pairs() const override { return blocks.pairs() + lines.pairs(); }

  KeyBlockPattern blocks;
  VerticalSlashPattern lines;

 private:
  std::int64_t heads_;
  std::vector<char> query_aware_;
};

class FlexPrefill final : public SelectingVariant {
 public:
  static VariantInfo info() {
    return {"flexprefill",
            "FlexPrefill: per head, query-aware blocks (cumulative mass gamma) where block means "
            "predict the last queries' attention (sqrt JSD < tau), else vertical-slash lines "
            "covering gamma of it",
            {{"block", ParamKind::kInteger, 128, 1, kMaxBlock, "queries and keys per block"},
             {"gamma", ParamKind::kReal, 0.9, 0.0, 1.0, "attention mass each choice covers"},
             {"tau", ParamKind::kReal, 0.1, 0.0, 1.0,
              "sqrt(JSD) below which a head is query-aware (0: never; 1: always)"}},
            {"flexprefill:block=16,gamma=0.8,tau=0.3", "flexprefill:block=8,gamma=0.9,tau=0",
             "flexprefill:block=12,gamma=0.95,tau=1", "flexprefill:block=16,gamma=0,tau=0.5"}};
  }
  explicit FlexPrefill(const VariantConfig& config)
      : SelectingVariant(config),
        block_(config.integer("block")),
        gamma_(config.real("gamma")),
        tau_(config.real("tau")) {}

  bool chooses_per_query() const override { return false; }

  std::shared_ptr<const Selection> select(const AttentionInputs& in) const override {
    const AttentionShape s = in.shape();
    const bool causal = in.causal;
    const std::int64_t d = s.head_dim, n = s.seq_len, m = s.query_len, block = block_;
    const std::int64_t key_blocks = (n + block - 1) / block;
    auto pattern = std::make_unique<HeadwisePattern>(s, causal, block);
    tbb::parallel_for(std::int64_t{0}, s.problems(), [&](std::int64_t bh) {
      const std::int64_t b = bh / s.heads, h = bh % s.heads;
      const float* k = in.k_head(b, h);
      std::vector<float> key_means(static_cast<std::size_t>(key_blocks * d));
      block_means(k, n, d, block, key_means.data());
      // L's exact attention, summed per key block (v) and per block of offsets.
      const std::int64_t rows = std::min(block, m), i0 = m - rows;
      std::vector<float> scores(static_cast<std::size_t>(rows * n));
      score_rows(in.q.row(b, h, i0), rows, k, n, d, in.scale, scores.data(), n);
      std::vector<double> vertical(static_cast<std::size_t>(key_blocks), 0.0);
      std::map<std::int64_t, double> slash;  // offset block floor(o / block) -> mass
      for (std::int64_t r = 0; r < rows; ++r) {
        const float* row = scores.data() + r * n;
        const std::int64_t p = s.position(i0 + r), visible = causal ? p + 1 : n;
        const float top = *std::max_element(row, row + visible);
        double total = 0;
        for (std::int64_t j = 0; j < visible; ++j)
          total += std::exp(static_cast<double>(row[j] - top));
        for (std::int64_t j = 0; j < visible; ++j) {
          const double w =
              std::exp(static_cast<double>(row[j] - top)) / total / static_cast<double>(rows);
          vertical[static_cast<std::size_t>(j / block)] += w;
          const std::int64_t o = p - j;
          slash[o >= 0 ? o / block : -((-o + block - 1) / block)] += w;
        }
      }
      // The estimate from block means, and the head's choice.
      std::vector<float> query_mean(static_cast<std::size_t>(d));
      block_means(in.q.row(b, h, i0), rows, d, rows, query_mean.data());
      const std::vector<double> estimate =
          softmax_of_means(query_mean.data(), key_means.data(), key_blocks, d, in.scale);
      if (std::sqrt(jensen_shannon(estimate, vertical)) < tau_) {
        pattern->set_query_aware(b, h);
        choose_blocks(in, b, h, key_means, pattern->blocks);
        return;
      }
      std::vector<std::int64_t> column_blocks = cover_mass(vertical.data(), key_blocks, gamma_);
      column_blocks.push_back(0);
      std::sort(column_blocks.begin(), column_blocks.end());
      column_blocks.erase(std::unique(column_blocks.begin(), column_blocks.end()),
                          column_blocks.end());
      std::vector<std::int64_t> slash_index;
      std::vector<double> slash_mass;
      for (const auto& [t, w] : slash) {
        slash_index.push_back(t);
        slash_mass.push_back(w);
      }
      std::vector<std::int64_t> offset_blocks{0};
      for (std::int64_t x :
           cover_mass(slash_mass.data(), static_cast<std::int64_t>(slash_mass.size()), gamma_))
        offset_blocks.push_back(slash_index[static_cast<std::size_t>(x)]);
      std::sort(offset_blocks.begin(), offset_blocks.end());
      offset_blocks.erase(std::unique(offset_blocks.begin(), offset_blocks.end()),
                          offset_blocks.end());
      std::vector<std::int64_t> columns, offsets;
      for (std::int64_t c : column_blocks)
        for (std::int64_t j = c * block; j < std::min(n, (c + 1) * block); ++j)
          columns.push_back(j);
      for (std::int64_t t : offset_blocks)
        for (std::int64_t o = t * block; o < (t + 1) * block; ++o)
          if (o <= n - 1 && o >= (causal ? 0 : -(n - 1))) offsets.push_back(o);
      pattern->lines.set(b, h, std::move(columns), std::move(offsets));
    });
    pattern->blocks.finish();
    return std::make_shared<PatternSelection>(std::move(pattern), s);
  }

  Cost cost(const AttentionShape& s, bool causal, int threads) const override {
    const std::int64_t key_blocks = (s.seq_len + block_ - 1) / block_;
    const std::int64_t groups = (s.query_len + 2 * block_ - 2) / block_;
    // Both patterns' tables: block lists, and per problem a column flag per key and the lists.
    const std::int64_t tables = s.problems() * (4 * groups * key_blocks + 17 * s.seq_len + 64);
    // Per thread L's scores, the key means and the offset masses.
    const std::int64_t scratch = threads * (4 * (std::min(block_, s.query_len) + 1) * s.seq_len +
                                            4 * key_blocks * s.head_dim + 48 * 2 * key_blocks);
    return {dense_pairs_per_problem(s, causal) * s.problems(),
            block_attention_workspace_bytes(s, threads, block_) + tables + scratch};
  }

 private:
  // softmax over c < count of scale · q · means[c].
  static std::vector<double> softmax_of_means(const float* q, const float* means,
                                              std::int64_t count, std::int64_t d, float scale) {
    std::vector<double> out(static_cast<std::size_t>(count));
    double top = -1e300;
    for (std::int64_t c = 0; c < count; ++c) {
      double dot = 0;
      for (std::int64_t e = 0; e < d; ++e) dot += static_cast<double>(q[e]) * means[c * d + e];
      out[static_cast<std::size_t>(c)] = dot * scale;
      top = std::max(top, out[static_cast<std::size_t>(c)]);
    }
    double total = 0;
    for (double& x : out) total += (x = std::exp(x - top));
    for (double& x : out) x /= total;
    return out;
  }

  // JSD(p, q) in nats; terms of zero probability add nothing.
  static double jensen_shannon(const std::vector<double>& p, const std::vector<double>& q) {
    double sum = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
      const double mid = (p[i] + q[i]) / 2;
      if (p[i] > 0) sum += 0.5 * p[i] * std::log(p[i] / mid);
      if (q[i] > 0) sum += 0.5 * q[i] * std::log(q[i] / mid);
    }
    return std::max(sum, 0.0);
  }

  // The query-aware head: each query block's key blocks up to gamma, plus its own.
  void choose_blocks(const AttentionInputs& in, std::int64_t b, std::int64_t h,
                     const std::vector<float>& key_means, KeyBlockPattern& blocks) const {
    const AttentionShape s = in.shape();
    const std::int64_t d = s.head_dim, n = s.seq_len, first = s.first_position();
    const std::int64_t key_blocks = (n + block_ - 1) / block_;
    std::vector<float> query_mean(static_cast<std::size_t>(d));
    for (std::int64_t g = 0; g < blocks.groups(); ++g) {
      const std::int64_t own = blocks.own_block(g);
      const std::int64_t lo = std::max(own * block_, first), hi = std::min((own + 1) * block_, n);
      block_means(in.q.row(b, h, lo - first), hi - lo, d, hi - lo, query_mean.data());
      const std::int64_t seen = in.causal ? own + 1 : key_blocks;
      const std::vector<double> mass =
          softmax_of_means(query_mean.data(), key_means.data(), seen, d, in.scale);
      std::int32_t* slots = blocks.blocks(b, h, g);
      std::int64_t used = 0;
      for (std::int64_t c : cover_mass(mass.data(), seen, gamma_))
        slots[used++] = static_cast<std::int32_t>(c);
      slots[used] = static_cast<std::int32_t>(own);  // a repeat is dropped by finish()
    }
  }

  std::int64_t block_;
  double gamma_, tau_;
};

const bool kRegistered = register_variant<FlexPrefill>();

}  // namespace
}  // namespace attn
