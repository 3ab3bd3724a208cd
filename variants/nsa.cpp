// Native Sparse Attention (Yuan et al., DeepSeek, 2025): three branches over one query, summed
// with gates, o = g_cmp · o_cmp + g_slc · o_slc + g_win · o_win.
//   compressed  attention over block summaries: block i covers keys [i·stride, i·stride +
//               cblock), its key and value the mean of those rows (NSA learns an MLP for this;
//               without trained weights the mean is the documented choice). A query sees the
//               blocks that end at or before its position (all blocks when not causal).
//   selected    the query's compressed attention probabilities, spread over selection blocks of
//               `sblock` keys by the share of each compressed block's keys inside them and summed
//               over the kv group's heads (NSA shares the choice across a GQA group), choose `n`
//               selection blocks: the first block and the two ending at the query are always
//               among them, the rest by that importance (ties: the lower block). The query
//               attends their keys (causal: up to its position).
//   window      the `window` keys ending at the query's position.
// The gates are fixed (NSA's come from a learned MLP with a sigmoid): equal thirds by default. A
// branch of gate 0 is not computed, so a spec with one gate of 1 measures that branch alone.
// Each branch is exact attention over its own keys; the registry test checks the gated sum of
// the three (Variant::terms) and tests/variants/nsa_test.cpp each branch's rule in fp64.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <vector>

#include "attention/bases/recent_builds.hpp"
#include "attention/bases/selection.hpp"
#include "attention/core/registry.hpp"
#include "attention/numeric/gemm.hpp"

namespace attn {
namespace {

// Query rows scored against the summaries by one GEMM.
constexpr std::int64_t kQueryChunk = 64;
constexpr std::int64_t kForcedBlocks = 3;  // the first block and the two local ones

// What the branches need for one set of inputs: the summaries, each query's compressed output
// and its chosen selection blocks.
struct NsaPlan {
  std::int64_t summaries = 0;                  // compressed blocks of the whole sequence
  std::vector<float> k_summary, v_summary;     // per (batch, kv head): summaries × head_dim
  std::vector<float> compressed_out;           // [B, H, M, D]: each query's compressed branch
  std::unique_ptr<PatternSelection> selected;  // the selection blocks, per query
};

class Nsa final : public Variant {
 public:
  static VariantInfo info() {
    return {"nsa",
            "Native Sparse Attention: block summaries (mean pooled), the top-n key blocks their "
            "attention points to (shared by the kv group) and a sliding window, summed with fixed "
            "gates",
            {{"cblock", ParamKind::kInteger, 32, 1, 1 << 16, "keys per compressed block"},
             {"stride", ParamKind::kInteger, 16, 1, 1 << 16, "stride of the compressed blocks"},
             {"sblock", ParamKind::kInteger, 64, 1, 1 << 16, "keys per selection block"},
             {"n", ParamKind::kInteger, 16, kForcedBlocks, 1 << 16,
              "selection blocks per query (the first and the two local ones among them)"},
             {"window", ParamKind::kInteger, 512, 1, 1 << 20, "keys of the sliding window"},
             {"gate_cmp", ParamKind::kReal, 1.0 / 3, 0.0, 1.0, "gate of the compressed branch"},
             {"gate_slc", ParamKind::kReal, 1.0 / 3, 0.0, 1.0, "gate of the selected branch"},
             {"gate_win", ParamKind::kReal, 1.0 / 3, 0.0, 1.0, "gate of the window branch"}},
            {"nsa:cblock=8,stride=4,sblock=8,n=4,window=16",
             "nsa:cblock=4,stride=4,sblock=12,n=3,window=5,gate_cmp=1,gate_slc=0,gate_win=0",
             "nsa:cblock=6,stride=3,sblock=9,n=5,window=7,gate_cmp=0.2,gate_slc=0.5,gate_win=0.3"}};
  }
  explicit Nsa(const VariantConfig& config)
      : Variant(config),
        cblock_(config.integer("cblock")),
        stride_(config.integer("stride")),
        sblock_(config.integer("sblock")),
        n_(config.integer("n")),
        window_(config.integer("window")),
        gates_{config.real("gate_cmp"), config.real("gate_slc"), config.real("gate_win")},
        window_variant_(
            make_variant("sliding_window:left=" + std::to_string(window_ - 1) + ",right=0")) {
    if (stride_ > cblock_)
      throw std::invalid_argument("nsa: stride=" + std::to_string(stride_) +
                                  " leaves keys out of every compressed block; allowed: stride <= "
                                  "cblock=" +
                                  std::to_string(cblock_));
  }

  bool group_chooses_together() const override { return true; }
  bool reads_quantized_cache(const AttentionShape&) const override { return false; }
  std::string kernel(Dtype dtype) const override {
    return "summaries fp32 + " + Variant::kernel(dtype) + " (selected, window)";
  }

  void forward(const AttentionInputs& in, MutableTensorView out) const override {
    const AttentionShape s = in.shape();
    const std::shared_ptr<const NsaPlan> plan = plan_for(in, true);
    // A branch of gate 0 is not computed (a single-branch spec measures that branch alone).
    Tensor selected(s.query_shape()), window(s.query_shape());
    if (gates_[1] != 0) plan->selected->attend(in, selected.mutable_view());
    if (gates_[2] != 0) window_variant_->forward(in, window.mutable_view());
    const std::int64_t d = s.head_dim;
    tbb::parallel_for(std::int64_t{0}, s.problems(), [&](std::int64_t bh) {
      const std::int64_t b = bh / s.heads, h = bh % s.heads;
      for (std::int64_t i = 0; i < s.query_len; ++i) {
        const float* c = plan->compressed_out.data() + (bh * s.query_len + i) * d;
        const float* sl = selected.view().row(b, h, i);
        const float* w = window.view().row(b, h, i);
        float* o = out.row(b, h, i);
        for (std::int64_t e = 0; e < d; ++e)
          o[e] = static_cast<float>(gates_[0] * c[e] + gates_[1] * sl[e] + gates_[2] * w[e]);
      }
    });
  }

  void terms(const AttentionInputs& in, std::int64_t b, std::int64_t h, std::int64_t query,
             std::vector<AttentionTerm>& out) const override {
    const AttentionShape s = in.shape();
    const std::shared_ptr<const NsaPlan> plan = plan_for(in);
    const std::int64_t d = s.head_dim, kv = s.kv_head(h);
    out.assign(3, AttentionTerm{});
    AttentionTerm& compressed = out[0];
    compressed.gate = gates_[0];
    const std::int64_t visible =
        gates_[0] != 0 ? visible_summaries(s, in.causal, query, plan->summaries) : 0;
    const float* k = plan->k_summary.data() + (b * s.kv_heads + kv) * plan->summaries * d;
    const float* v = plan->v_summary.data() + (b * s.kv_heads + kv) * plan->summaries * d;
    for (std::int64_t i = 0; i < visible; ++i) {
      compressed.keys.push_back(i);
      compressed.k_rows.insert(compressed.k_rows.end(), k + i * d, k + (i + 1) * d);
      compressed.v_rows.insert(compressed.v_rows.end(), v + i * d, v + (i + 1) * d);
    }
    out[1].gate = gates_[1];
    if (gates_[1] != 0) plan->selected->keys(b, h, query, out[1].keys);
    out[2].gate = gates_[2];
    if (gates_[2] != 0) window_variant_->keys(in, b, h, query, out[2].keys);
  }

  void keys(const AttentionInputs& in, std::int64_t b, std::int64_t h, std::int64_t query,
            std::vector<std::int64_t>& out) const override {
    // The rows of K the selected and window branches read (the summaries are not rows of K).
    std::vector<std::int64_t> selected, window;
    if (gates_[1] != 0) plan_for(in)->selected->keys(b, h, query, selected);
    if (gates_[2] != 0) window_variant_->keys(in, b, h, query, window);
    out.clear();
    std::set_union(selected.begin(), selected.end(), window.begin(), window.end(),
                   std::back_inserter(out));
  }

  std::int64_t pairs(const AttentionInputs& in) const override {
    const AttentionShape s = in.shape();
    const std::shared_ptr<const NsaPlan> plan = plan_for(in);
    std::int64_t total = (gates_[1] != 0 ? plan->selected->pairs() : 0) +
                         (gates_[2] != 0 ? window_variant_->pairs(in) : 0);
    if (gates_[0] != 0)
      for (std::int64_t i = 0; i < s.query_len; ++i)
        total += s.problems() * visible_summaries(s, in.causal, i, plan->summaries);
    return total;
  }

  Cost cost(const AttentionShape& s, bool causal, int threads) const override {
    const std::int64_t summaries = summary_count(s.seq_len);
    std::int64_t compressed = 0;
    for (std::int64_t i = 0; i < s.query_len; ++i)
      compressed += visible_summaries(s, causal, i, summaries);
    const std::int64_t selected =
        checked_product(s.query_len, std::min(n_ * sblock_, s.seq_len), "pairs");
    // Branches of gate 0 are not computed.
    const Cost window = window_variant_->cost(s, causal, threads);
    const std::int64_t outputs = 3 * 4 * s.problems() * s.query_len * s.head_dim;
    const std::int64_t plan =
        8 * s.batch * s.kv_heads * summaries * s.head_dim + 4 * s.problems() * s.query_len * n_;
    const std::int64_t scratch = threads * 4 * kQueryChunk * (2 * summaries + s.head_dim);
    if (gates_[0] == 0) compressed = 0;
    return {checked_product(s.problems(), compressed + (gates_[1] != 0 ? selected : 0), "pairs") +
                (gates_[2] != 0 ? window.pairs : 0),
            outputs + plan + scratch + window.workspace_bytes};
  }

 private:
  std::int64_t summary_count(std::int64_t n) const {
    return n >= cblock_ ? (n - cblock_) / stride_ + 1 : 0;
  }
  // Summaries query `query` sees: those ending at or before its position (causal), or all.
  std::int64_t visible_summaries(const AttentionShape& s, bool causal, std::int64_t query,
                                 std::int64_t summaries) const {
    if (!causal) return summaries;
    const std::int64_t position = s.position(query);
    return position + 1 >= cblock_ ? std::min(summaries, (position + 1 - cblock_) / stride_ + 1)
                                   : 0;
  }

  std::shared_ptr<const NsaPlan> build_plan(const AttentionInputs& in) const {
    const AttentionShape s = in.shape();
    const std::int64_t d = s.head_dim, n = s.seq_len, g = s.group();
    auto plan = std::make_shared<NsaPlan>();
    const std::int64_t summaries = plan->summaries = summary_count(n);
    plan->k_summary.assign(static_cast<std::size_t>(s.batch * s.kv_heads * summaries * d), 0.0f);
    plan->v_summary.assign(plan->k_summary.size(), 0.0f);
    // Summaries: means of the block's rows, summed in fp64 in key order.
    tbb::parallel_for(std::int64_t{0}, s.batch * s.kv_heads, [&](std::int64_t bk) {
      const std::int64_t b = bk / s.kv_heads, kv = bk % s.kv_heads;
      std::vector<double> k_sum(static_cast<std::size_t>(d)), v_sum(k_sum.size());
      for (std::int64_t i = 0; i < summaries; ++i) {
        std::fill(k_sum.begin(), k_sum.end(), 0.0);
        std::fill(v_sum.begin(), v_sum.end(), 0.0);
        for (std::int64_t key = i * stride_; key < i * stride_ + cblock_; ++key) {
          const float* k = in.k.row(b, kv, key);
          const float* v = in.v.row(b, kv, key);
          for (std::int64_t e = 0; e < d; ++e) {
            k_sum[e] += k[e];
            v_sum[e] += v[e];
          }
        }
        float* ks = plan->k_summary.data() + (bk * summaries + i) * d;
        float* vs = plan->v_summary.data() + (bk * summaries + i) * d;
        for (std::int64_t e = 0; e < d; ++e) {
          ks[e] = static_cast<float>(k_sum[e] / static_cast<double>(cblock_));
          vs[e] = static_cast<float>(v_sum[e] / static_cast<double>(cblock_));
        }
      }
    });
    const std::int64_t sel_blocks = (n + sblock_ - 1) / sblock_;
    plan->compressed_out.assign(static_cast<std::size_t>(s.problems() * s.query_len * d), 0.0f);
    auto pattern =
        std::make_unique<KeyBlockPattern>(s, in.causal, sblock_, 1, std::min(n_, sel_blocks));
    // The window alone needs neither the summaries' attention nor a selection.
    const std::int64_t chunks =
        gates_[0] != 0 || gates_[1] != 0 ? (s.query_len + kQueryChunk - 1) / kQueryChunk : 0;
    tbb::parallel_for(std::int64_t{0}, s.batch * s.kv_heads * chunks, [&](std::int64_t item) {
      const std::int64_t bk = item / chunks, b = bk / s.kv_heads, kv = bk % s.kv_heads;
      const std::int64_t i0 = item % chunks * kQueryChunk;
      const std::int64_t rows = std::min(kQueryChunk, s.query_len - i0);
      const float* ks = plan->k_summary.data() + bk * summaries * d;
      const float* vs = plan->v_summary.data() + bk * summaries * d;
      std::vector<float> scores(
          static_cast<std::size_t>(rows * std::max<std::int64_t>(summaries, 1)));
      std::vector<double> importance(static_cast<std::size_t>(rows * sel_blocks), 0.0);
      for (std::int64_t h = kv * g; h < (kv + 1) * g; ++h) {
        if (summaries > 0)
          sgemm(true, rows, summaries, d, in.scale, in.q.row(b, h, i0), d, ks, d, 0.0f,
                scores.data(), summaries);
        for (std::int64_t r = 0; r < rows; ++r) {
          const std::int64_t visible = visible_summaries(s, in.causal, i0 + r, summaries);
          float* p = scores.data() + r * summaries;
          if (visible == 0) {
            std::fill(p, p + summaries, 0.0f);
            continue;
          }
          const float top = *std::max_element(p, p + visible);
          double sum = 0;
          // Below e^-87 a weight would be an fp32 denormal, which the products then crawl
          // through; it is 0 to within 1e-38 of the sum.
          for (std::int64_t i = 0; i < visible; ++i)
            sum += (p[i] = p[i] - top < -87.0f ? 0.0f : std::exp(p[i] - top));
          for (std::int64_t i = 0; i < visible; ++i) {
            p[i] = static_cast<float>(p[i] / sum);
            // Summary i's probability, spread over the selection blocks its keys fall in.
            const std::int64_t first = i * stride_, end = first + cblock_;
            for (std::int64_t j = first / sblock_; j * sblock_ < end; ++j) {
              const std::int64_t overlap =
                  std::min(end, (j + 1) * sblock_) - std::max(first, j * sblock_);
              importance[static_cast<std::size_t>(r * sel_blocks + j)] +=
                  static_cast<double>(p[i]) * static_cast<double>(overlap) /
                  static_cast<double>(cblock_);
            }
          }
          std::fill(p + visible, p + summaries, 0.0f);
        }
        // The compressed branch of the chunk's rows: P · V_summaries in one product.
        if (summaries > 0 && gates_[0] != 0)
          sgemm(false, rows, d, summaries, 1.0f, scores.data(), summaries, vs, d, 0.0f,
                plan->compressed_out.data() + ((b * s.heads + h) * s.query_len + i0) * d, d);
      }
      if (gates_[1] == 0) return;  // no selected branch to choose for
      std::vector<std::int64_t> order;
      for (std::int64_t r = 0; r < rows; ++r) {
        const std::int64_t position = s.position(i0 + r);
        const std::int64_t reachable = in.causal ? position / sblock_ + 1 : sel_blocks;
        const std::int64_t own = position / sblock_;
        std::vector<std::int32_t> chosen;
        for (const std::int64_t forced : {std::int64_t{0}, own, own - 1})
          if (forced >= 0 && forced < reachable &&
              std::find(chosen.begin(), chosen.end(), forced) == chosen.end())
            chosen.push_back(static_cast<std::int32_t>(forced));
        // The rest by importance, ties to the lower block: a partial sort of the candidates.
        order.clear();
        for (std::int64_t j = 0; j < reachable; ++j)
          if (std::find(chosen.begin(), chosen.end(), j) == chosen.end()) order.push_back(j);
        const double* imp = importance.data() + r * sel_blocks;
        const auto take = std::min<std::size_t>(
            order.size(),
            static_cast<std::size_t>(std::max<std::int64_t>(
                0, std::min(n_, sel_blocks) - static_cast<std::int64_t>(chosen.size()))));
        std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(take),
                          order.end(), [&](std::int64_t x, std::int64_t y) {
                            return imp[x] > imp[y] || (imp[x] == imp[y] && x < y);
                          });
        for (std::size_t t = 0; t < take; ++t)
          chosen.push_back(static_cast<std::int32_t>(order[t]));
        for (std::int64_t h = kv * g; h < (kv + 1) * g; ++h) {
          std::int32_t* slots = pattern->blocks(b, h, pattern->group_of(position));
          std::fill(slots, slots + pattern->slots(), -1);
          std::copy(chosen.begin(), chosen.end(), slots);
        }
      }
    });
    pattern->finish();
    plan->selected = std::make_unique<PatternSelection>(std::move(pattern), s);
    return plan;
  }

  // The plan of the last inputs seen (forward, then keys() and terms() row by row).
  std::shared_ptr<const NsaPlan> plan_for(const AttentionInputs& in, bool fresh = false) const {
    const InputsKey key = inputs_key(in);
    return builds_.get(
        key, [&] { return build_plan(in); }, fresh);
  }

  std::int64_t cblock_, stride_, sblock_, n_, window_;
  double gates_[3];
  std::unique_ptr<Variant> window_variant_;
  RecentBuilds<InputsKey, NsaPlan> builds_;
};

const bool kRegistered = register_variant<Nsa>();

}  // namespace
}  // namespace attn
