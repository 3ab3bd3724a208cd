// MagicPIG (Chen et al., "MagicPIG: LSH Sampling for Efficient LLM Generation", 2024): keys are
// *sampled* by locality-sensitive hashing and attended with importance weights, an estimator of
// full attention rather than a truncation of it (Reformer's buckets keep what collides and drop
// the rest; MagicPIG reweights what collides by how likely it was to).
//
// The rule, per query row:
//   * Keys and queries are hashed by SimHash, `l` tables of `k` random hyperplanes (Gaussian,
//     from `seed`), after the MIPS transform of Neyshabur and Srebro (2015): k~ = [k/M,
//     sqrt(1 - |k|²/M²)] with M the largest key norm of the (batch, kv head), q~ = [q/|q|, 0], so
//     that the angle between q~ and k~ orders keys by q·k.
//   * A key is sampled when its code equals the query's in at least one table; its sampling
//     probability is u = 1 - (1 - (1 - θ/π)^k)^l with cos θ = q·k / (|q| M), and it enters the
//     softmax with weight 1/u (log-weight -log u): the self-normalised importance estimate
//     Σ (e^s/u) v / Σ e^s/u of softmax attention.
//   * The first `sinks` keys and the `window` keys ending at the query's position are kept
//     deterministically (weight 1), as MagicPIG keeps sinks and a local window on the GPU.
// Causal rows sample only keys up to their position. The paper's configurations are k = 8-10
// bits and l = 75-150 tables.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <memory>
#include <numbers>
#include <vector>

#include "attention/bases/recent_builds.hpp"
#include "attention/core/random.hpp"
#include "attention/core/registry.hpp"
#include "attention/numeric/gemm.hpp"

namespace attn {
namespace {

// Query rows hashed by one GEMM.
constexpr std::int64_t kQueryChunk = 64;
// Keys projected per product when the tables are built.
constexpr std::int64_t kKeyChunk = 256;

// The hash tables of one (batch, kv head): for table t, the keys whose code is c are
// members[t·N + offsets[t·(2^k + 1) + c] ...], in increasing key order.
struct KeyTables {
  double max_norm = 0;
  std::vector<std::int32_t> offsets;
  std::vector<std::int32_t> members;
};

// Everything the rule needs beyond a query's own projections, for one set of inputs.
struct Hashing {
  // k·l rows of head_dim + 1 values: the hyperplanes, the last coordinate on the MIPS
  // transform's extra axis (a query's is 0, so queries are projected on the first D alone).
  std::shared_ptr<const std::vector<float>> planes;  // shared by every build at this D
  std::vector<KeyTables> tables;                     // per (batch, kv head)
  // The pairs a forward over these inputs computed (-1: none yet), so pairs() need not
  // retrieve every row again.
  mutable std::atomic<std::int64_t> forward_pairs{-1};
};

class MagicPig final : public Variant {
 public:
  static VariantInfo info() {
    return {"magicpig",
            "MagicPIG: keys sampled by SimHash (l tables of k bits, after the MIPS transform) and "
            "attended with importance weights 1/P(sampled), plus sinks and a local window",
            {{"k", ParamKind::kInteger, 10, 1, 16, "bits per hash table"},
             {"l", ParamKind::kInteger, 150, 1, 1024, "hash tables"},
             {"sinks", ParamKind::kInteger, 4, 0, 1 << 20, "first keys always kept"},
             {"window", ParamKind::kInteger, 64, 0, 1 << 20,
              "keys ending at the query's position always kept"},
             {"seed", ParamKind::kInteger, 0, 0, 1e9, "seed of the hyperplanes"}},
            {"magicpig:k=3,l=4,sinks=1,window=3,seed=3", "magicpig:k=1,l=1,sinks=0,window=0",
             "magicpig:k=6,l=8,sinks=2,window=8,seed=9"}};
  }
  explicit MagicPig(const VariantConfig& config)
      : Variant(config),
        bits_(config.integer("k")),
        tables_(config.integer("l")),
        sinks_(config.integer("sinks")),
        window_(config.integer("window")),
        seed_(static_cast<std::uint64_t>(config.integer("seed"))) {}

  bool group_chooses_together() const override { return false; }
  bool reads_quantized_cache(const AttentionShape&) const override { return false; }
  std::string kernel(Dtype dtype) const override {
    return std::string("simhash+gather fp32") + (dtype == Dtype::kBf16 ? " over bf16 values" : "");
  }

  void forward(const AttentionInputs& in, MutableTensorView out) const override {
    const AttentionShape s = in.shape();
    const std::shared_ptr<const Hashing> hashing = hashing_for(in, true);
    const std::int64_t d = s.head_dim, width = bits_ * tables_;
    const std::int64_t chunks = (s.query_len + kQueryChunk - 1) / kQueryChunk;
    std::atomic<std::int64_t> pairs{0};
    tbb::parallel_for(std::int64_t{0}, s.problems() * chunks, [&](std::int64_t item) {
      const std::int64_t bh = item / chunks, b = bh / s.heads, h = bh % s.heads;
      const std::int64_t i0 = item % chunks * kQueryChunk;
      const std::int64_t rows = std::min(kQueryChunk, s.query_len - i0);
      std::vector<float> projected(static_cast<std::size_t>(rows * width));
      sgemm(true, rows, width, d, 1.0f, in.q.row(b, h, i0), d, hashing->planes->data(), d + 1, 0.0f,
            projected.data(), width);
      RowScratch scratch(s.seq_len);
      std::vector<float> scores, acc(static_cast<std::size_t>(d));
      std::int64_t chunk_pairs = 0;
      for (std::int64_t r = 0; r < rows; ++r) {
        row_keys(in, *hashing, b, h, i0 + r, projected.data() + r * width, scratch);
        attend(in, b, h, i0 + r, scratch, scores, acc, out.row(b, h, i0 + r));
        chunk_pairs += static_cast<std::int64_t>(scratch.keys.size());
      }
      pairs += chunk_pairs;
    });
    hashing->forward_pairs = pairs.load();
  }

  void terms(const AttentionInputs& in, std::int64_t b, std::int64_t h, std::int64_t query,
             std::vector<AttentionTerm>& out) const override {
    const std::shared_ptr<const Hashing> hashing = hashing_for(in);
    RowScratch scratch(in.shape().seq_len);
    row_keys(in, *hashing, b, h, query, project_query(in, *hashing, b, h, query).data(), scratch);
    out.resize(1);
    out[0] = AttentionTerm{};
    out[0].keys = scratch.keys;
    out[0].log_weights = scratch.log_weights;
  }

  void keys(const AttentionInputs& in, std::int64_t b, std::int64_t h, std::int64_t query,
            std::vector<std::int64_t>& out) const override {
    std::vector<AttentionTerm> sampled;
    terms(in, b, h, query, sampled);
    out = std::move(sampled[0].keys);
  }

  std::int64_t pairs(const AttentionInputs& in) const override {
    const AttentionShape s = in.shape();
    const std::shared_ptr<const Hashing> hashing = hashing_for(in);
    if (const std::int64_t known = hashing->forward_pairs; known >= 0) return known;
    std::vector<std::int64_t> counts(static_cast<std::size_t>(s.problems() * s.query_len));
    tbb::parallel_for(std::int64_t{0}, s.problems(), [&](std::int64_t bh) {
      RowScratch scratch(s.seq_len);
      for (std::int64_t i = 0; i < s.query_len; ++i) {
        row_keys(in, *hashing, bh / s.heads, bh % s.heads, i,
                 project_query(in, *hashing, bh / s.heads, bh % s.heads, i).data(), scratch);
        counts[static_cast<std::size_t>(bh * s.query_len + i)] =
            static_cast<std::int64_t>(scratch.keys.size());
      }
    });
    std::int64_t total = 0;
    for (std::int64_t c : counts) total += c;
    return total;
  }

  Cost cost(const AttentionShape& s, bool causal, int threads) const override {
    // Pairs: an upper bound (every key may collide); the workspace: the tables and a chunk's
    // projections and row scratch per thread.
    const std::int64_t width = bits_ * tables_;
    const std::int64_t tables_bytes = checked_product(
        s.batch * s.kv_heads, 4 * tables_ * (s.seq_len + (std::int64_t{1} << bits_) + 1), "bytes");
    const std::int64_t scratch =
        threads * (4 * kQueryChunk * width + 24 * s.seq_len + 8 * s.head_dim +
                   4 * s.seq_len * (s.head_dim + 1) +            // a build's augmented K,
                   4 * std::min(s.seq_len, kKeyChunk) * width);  // a chunk's projections
    return {checked_product(s.problems(), dense_pairs_per_problem(s, causal), "pairs"),
            tables_bytes + 8 * width * (s.head_dim + 1) + scratch};
  }

 private:
  // A row's keys in increasing order and their log-weights, with the stamp array that dedupes
  // the tables' hits.
  struct RowScratch {
    explicit RowScratch(std::int64_t n) : seen(static_cast<std::size_t>(n), -1) {}
    std::vector<std::int64_t> keys;
    std::vector<double> log_weights;
    std::vector<std::int64_t> seen;  // the last row that reached each key
    std::vector<std::int64_t> hits;
    std::int64_t row = 0;
  };

  std::vector<float> project_query(const AttentionInputs& in, const Hashing& hashing,
                                   std::int64_t b, std::int64_t h, std::int64_t query) const {
    const std::int64_t d = in.shape().head_dim, width = bits_ * tables_;
    std::vector<float> projected(static_cast<std::size_t>(width));
    sgemm(true, 1, width, d, 1.0f, in.q.row(b, h, query), d, hashing.planes->data(), d + 1, 0.0f,
          projected.data(), width);
    return projected;
  }

  // The hyperplanes from the seed: Gaussian coordinates by Box-Muller (SimHash's collision
  // probability 1 - θ/π needs a rotation-invariant direction).
  std::vector<float> make_planes(std::int64_t d) const {
    const std::int64_t width = bits_ * tables_;
    std::vector<float> planes(static_cast<std::size_t>(width * (d + 1)));
    for (std::int64_t p = 0; p < width; ++p) {
      SplitMix64 gen(mix_seed(seed_, static_cast<std::uint64_t>(p)));
      for (std::int64_t e = 0; e <= d; e += 2) {
        const double u1 = (static_cast<double>(gen.next() >> 11) + 1.0) * 0x1p-53;
        const double u2 = static_cast<double>(gen.next() >> 11) * 0x1p-53;
        const double radius = std::sqrt(-2.0 * std::log(u1));
        const double normal[2] = {radius * std::cos(2 * std::numbers::pi * u2),
                                  radius * std::sin(2 * std::numbers::pi * u2)};
        for (std::int64_t t = 0; t < 2 && e + t <= d; ++t) {
          planes[static_cast<std::size_t>(p * (d + 1) + e + t)] = static_cast<float>(normal[t]);
        }
      }
    }
    return planes;
  }

  // Table t's code of a projected vector: bit j is the sign of hyperplane t·k + j.
  std::uint32_t code(const float* projected, std::int64_t table) const {
    std::uint32_t c = 0;
    for (std::int64_t j = 0; j < bits_; ++j)
      c |= static_cast<std::uint32_t>(projected[table * bits_ + j] >= 0.0f) << j;
    return c;
  }

  std::shared_ptr<const Hashing> build_hashing(const AttentionInputs& in) const {
    const AttentionShape s = in.shape();
    const std::int64_t d = s.head_dim, n = s.seq_len, width = bits_ * tables_;
    const std::int64_t buckets = std::int64_t{1} << bits_;
    auto hashing = std::make_shared<Hashing>();
    // The hyperplanes depend only on the parameters and D: drawn once per D.
    hashing->planes =
        planes_.get(d, [&] { return std::make_shared<const std::vector<float>>(make_planes(d)); });
    hashing->tables.resize(static_cast<std::size_t>(s.batch * s.kv_heads));
    tbb::parallel_for(std::int64_t{0}, s.batch * s.kv_heads, [&](std::int64_t bk) {
      const float* k = in.k.head(bk / s.kv_heads, bk % s.kv_heads);
      KeyTables& t = hashing->tables[static_cast<std::size_t>(bk)];
      std::vector<double> norms(static_cast<std::size_t>(n));
      for (std::int64_t j = 0; j < n; ++j) {
        double sq = 0;
        for (std::int64_t e = 0; e < d; ++e) sq += static_cast<double>(k[j * d + e]) * k[j * d + e];
        norms[static_cast<std::size_t>(j)] = std::sqrt(sq);
        t.max_norm = std::max(t.max_norm, norms[static_cast<std::size_t>(j)]);
      }
      // sign(k~·w) = sign(k·w_D + sqrt(M² - |k|²)·w_aug): the transform's 1/M does not change
      // it, so K gets the extra coordinate as a column and one product projects it.
      std::vector<float> augmented(static_cast<std::size_t>(n * (d + 1)));
      for (std::int64_t j = 0; j < n; ++j) {
        const double norm = norms[static_cast<std::size_t>(j)];
        std::copy(k + j * d, k + (j + 1) * d, augmented.data() + j * (d + 1));
        augmented[static_cast<std::size_t>(j * (d + 1) + d)] =
            static_cast<float>(std::sqrt(std::max(0.0, t.max_norm * t.max_norm - norm * norm)));
      }
      // Projected a chunk of keys at a time: all N × k·l projections at once were 25 MB per kv
      // head at the default k·l = 1500 and N = 4K, touched once.
      std::vector<float> projected(static_cast<std::size_t>(std::min(n, kKeyChunk) * width));
      std::vector<std::uint32_t> codes(static_cast<std::size_t>(n * tables_));
      for (std::int64_t j0 = 0; j0 < n; j0 += kKeyChunk) {
        const std::int64_t rows = std::min(kKeyChunk, n - j0);
        sgemm(true, rows, width, d + 1, 1.0f, augmented.data() + j0 * (d + 1), d + 1,
              hashing->planes->data(), d + 1, 0.0f, projected.data(), width);
        for (std::int64_t j = 0; j < rows; ++j)
          for (std::int64_t table = 0; table < tables_; ++table)
            codes[static_cast<std::size_t>((j0 + j) * tables_ + table)] =
                code(projected.data() + j * width, table);
      }
      // Counting sort per table: stable, so each bucket lists its keys in increasing order.
      t.offsets.assign(static_cast<std::size_t>(tables_ * (buckets + 1)), 0);
      t.members.resize(static_cast<std::size_t>(tables_ * n));
      for (std::int64_t table = 0; table < tables_; ++table) {
        std::int32_t* offsets = t.offsets.data() + table * (buckets + 1);
        for (std::int64_t j = 0; j < n; ++j)
          ++offsets[codes[static_cast<std::size_t>(j * tables_ + table)] + 1];
        for (std::int64_t c = 0; c < buckets; ++c) offsets[c + 1] += offsets[c];
        std::vector<std::int32_t> next(offsets, offsets + buckets);
        std::int32_t* members = t.members.data() + table * n;
        for (std::int64_t j = 0; j < n; ++j)
          members[next[codes[static_cast<std::size_t>(j * tables_ + table)]]++] =
              static_cast<std::int32_t>(j);
      }
    });
    return hashing;
  }

  // The hashing of the last inputs seen (forward, then keys() and terms() row by row).
  std::shared_ptr<const Hashing> hashing_for(const AttentionInputs& in, bool fresh = false) const {
    const InputsKey key = inputs_key(in);
    return builds_.get(
        key, [&] { return build_hashing(in); }, fresh);
  }

  // -log u for a sampled key: u = 1 - (1 - (1 - θ/π)^k)^l, cos θ = q·k / (|q| M).
  double log_weight(double cosine) const {
    const double theta = std::acos(std::clamp(cosine, -1.0, 1.0));
    const double collide = std::pow(1.0 - theta / std::numbers::pi, static_cast<double>(bits_));
    const double sampled = -std::expm1(static_cast<double>(tables_) * std::log1p(-collide));
    return -std::log(std::max(sampled, 1e-300));
  }

  void row_keys(const AttentionInputs& in, const Hashing& hashing, std::int64_t b, std::int64_t h,
                std::int64_t query, const float* projected, RowScratch& scratch) const {
    const AttentionShape s = in.shape();
    const std::int64_t n = s.seq_len, d = s.head_dim, kv = s.kv_head(h);
    const std::int64_t buckets = std::int64_t{1} << bits_;
    const std::int64_t position = s.position(query);
    const std::int64_t end = in.causal ? position + 1 : n;  // keys a row may see: [0, end)
    const std::int64_t window_begin = std::max<std::int64_t>(0, position - window_ + 1);
    const auto kept = [&](std::int64_t j) {
      return j < sinks_ || (j >= window_begin && j <= position);
    };
    const std::int64_t row = ++scratch.row;
    scratch.hits.clear();
    const KeyTables& t = hashing.tables[static_cast<std::size_t>(b * s.kv_heads + kv)];
    for (std::int64_t table = 0; table < tables_; ++table) {
      const std::uint32_t c = code(projected, table);
      const std::int32_t* offsets = t.offsets.data() + table * (buckets + 1);
      const std::int32_t* members = t.members.data() + table * n;
      for (std::int32_t m = offsets[c]; m < offsets[c + 1]; ++m) {
        const std::int64_t j = members[m];
        if (j >= end) break;  // members are in increasing order
        if (scratch.seen[static_cast<std::size_t>(j)] == row || kept(j)) continue;
        scratch.seen[static_cast<std::size_t>(j)] = row;
        scratch.hits.push_back(j);
      }
    }
    for (std::int64_t j = 0; j < std::min(sinks_, end); ++j) scratch.hits.push_back(j);
    for (std::int64_t j = std::max(window_begin, sinks_); j < std::min(position + 1, end); ++j)
      scratch.hits.push_back(j);
    std::sort(scratch.hits.begin(), scratch.hits.end());
    scratch.keys.assign(scratch.hits.begin(), scratch.hits.end());
    scratch.log_weights.assign(scratch.keys.size(), 0.0);
    const float* q = in.q.row(b, h, query);
    double q_norm = 0;
    for (std::int64_t e = 0; e < d; ++e) q_norm += static_cast<double>(q[e]) * q[e];
    q_norm = std::sqrt(q_norm);
    const double denominator = q_norm * t.max_norm;
    for (std::size_t i = 0; i < scratch.keys.size(); ++i) {
      const std::int64_t j = scratch.keys[i];
      if (kept(j)) continue;
      const float* k = in.k.row(b, kv, j);
      double dot = 0;
      for (std::int64_t e = 0; e < d; ++e) dot += static_cast<double>(q[e]) * k[e];
      scratch.log_weights[i] = log_weight(denominator > 0 ? dot / denominator : 0.0);
    }
  }

  // Softmax over the row's keys with their log-weights, in fp32 but for the weights.
  void attend(const AttentionInputs& in, std::int64_t b, std::int64_t h, std::int64_t query,
              const RowScratch& row, std::vector<float>& scores, std::vector<float>& acc,
              float* out) const {
    const AttentionShape s = in.shape();
    const std::int64_t d = s.head_dim, kv = s.kv_head(h);
    const float* q = in.q.row(b, h, query);
    const std::size_t count = row.keys.size();
    std::fill(out, out + d, 0.0f);
    if (count == 0) return;
    scores.resize(count);
    float max_score = -std::numeric_limits<float>::infinity();
    for (std::size_t i = 0; i < count; ++i) {
      const float* k = in.k.row(b, kv, row.keys[i]);
      float lanes[8] = {};
      std::int64_t e = 0;
      for (; e + 8 <= d; e += 8)
        for (int l = 0; l < 8; ++l) lanes[l] += q[e + l] * k[e + l];
      float dot = 0;
      for (; e < d; ++e) dot += q[e] * k[e];
      for (float lane : lanes) dot += lane;
      scores[i] = in.scale * dot + static_cast<float>(row.log_weights[i]);
      max_score = std::max(max_score, scores[i]);
    }
    std::fill(acc.begin(), acc.end(), 0.0f);
    float sum = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const float p = std::exp(scores[i] - max_score);
      sum += p;
      const float* v = in.v.row(b, kv, row.keys[i]);
      for (std::int64_t e = 0; e < d; ++e) acc[static_cast<std::size_t>(e)] += p * v[e];
    }
    for (std::int64_t e = 0; e < d; ++e) out[e] = acc[static_cast<std::size_t>(e)] / sum;
  }

  std::int64_t bits_, tables_, sinks_, window_;
  std::uint64_t seed_;
  RecentBuilds<InputsKey, Hashing> builds_;
  RecentBuilds<std::int64_t, std::vector<float>, 2> planes_;  // per head_dim
};

const bool kRegistered = register_variant<MagicPig>();

}  // namespace
}  // namespace attn
