#include "harness/measure/accuracy.hpp"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <unordered_set>

#include "attention/core/random.hpp"
#include "attention/reference/reference.hpp"

namespace attn::harness {
namespace {

double dot(const float* a, const float* b, std::int64_t n) {
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return s;
}

// Floyd's algorithm: `count` distinct values from [0, n), sorted.
std::vector<std::int64_t> sample_rows(std::int64_t n, std::int64_t count, SplitMix64& rng) {
  std::vector<std::int64_t> out;
  if (count >= n) {
    for (std::int64_t i = 0; i < n; ++i) out.push_back(i);
    return out;
  }
  std::unordered_set<std::int64_t> chosen;
  for (std::int64_t j = n - count; j < n; ++j) {
    const auto t = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(j + 1)));
    chosen.insert(chosen.count(t) ? j : t);
  }
  out.assign(chosen.begin(), chosen.end());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

ReferenceSample sample_full_attention(const AttentionInputs& in, std::int64_t rows_per_problem,
                                      std::uint64_t seed) {
  const AttentionShape s = in.shape();
  ReferenceSample ref;
  ref.rows_per_problem = std::min(rows_per_problem, s.query_len);
  for (std::int64_t p = 0; p < s.problems(); ++p) {
    SplitMix64 rng(mix_seed(seed, 0x5A4D'504Cu, static_cast<std::uint64_t>(p)));
    const auto rows = sample_rows(s.query_len, ref.rows_per_problem, rng);
    ref.rows.insert(ref.rows.end(), rows.begin(), rows.end());
  }
  const auto total = static_cast<std::int64_t>(ref.rows.size());
  ref.outputs.assign(static_cast<std::size_t>(total * s.head_dim), 0.0);
  ref.score_max.assign(static_cast<std::size_t>(total), 0.0);
  ref.score_sum.assign(static_cast<std::size_t>(total), 0.0);
  tbb::parallel_for(std::int64_t{0}, total, [&](std::int64_t r) {
    const std::int64_t p = r / ref.rows_per_problem, b = p / s.heads, h = p % s.heads;
    const std::int64_t query = ref.rows[r], kv = s.kv_head(h);
    const std::int64_t end = in.causal ? s.position(query) + 1 : s.seq_len;
    const float* q = in.q.row(b, h, query);
    std::vector<double> scores(static_cast<std::size_t>(end));
    double max_score = -std::numeric_limits<double>::infinity();
    for (std::int64_t k = 0; k < end; ++k) {
      scores[k] = static_cast<double>(in.scale) * dot(q, in.k.row(b, kv, k), s.head_dim);
      max_score = std::max(max_score, scores[k]);
    }
    double sum = 0;
    for (double& x : scores) sum += (x = std::exp(x - max_score));
    double* out = ref.outputs.data() + r * s.head_dim;
    for (std::int64_t k = 0; k < end; ++k) {
      const float* v = in.v.row(b, kv, k);
      const double w = scores[k] / sum;
      for (std::int64_t c = 0; c < s.head_dim; ++c) out[c] += w * static_cast<double>(v[c]);
    }
    ref.score_max[r] = max_score;
    ref.score_sum[r] = sum;
  });
  return ref;
}

Accuracy measure_accuracy(const Variant& variant, const AttentionInputs& in,
                          const TensorView& output, const ReferenceSample& ref) {
  return measure_accuracy(
      [&](std::int64_t b, std::int64_t h, std::int64_t query, std::vector<AttentionTerm>& terms) {
        variant.terms(in, b, h, query, terms);
      },
      in, output, ref);
}

Accuracy measure_accuracy(const TermsOf& terms_of, const AttentionInputs& in,
                          const TensorView& output, const ReferenceSample& ref) {
  const AttentionShape s = in.shape();
  const auto total = static_cast<std::int64_t>(ref.rows.size());
  std::vector<double> err_sq(total), ref_sq(total), max_abs(total), cos(total), mass(total);
  std::vector<double> kernel_err_sq(total), kernel_ref_sq(total);
  tbb::parallel_for(std::int64_t{0}, total, [&](std::int64_t r) {
    const std::int64_t p = r / ref.rows_per_problem, b = p / s.heads, h = p % s.heads;
    const std::int64_t query = ref.rows[r], kv = s.kv_head(h);
    const float* got = output.row(b, h, query);
    const double* want = ref.outputs.data() + r * s.head_dim;
    double e2 = 0, w2 = 0, g2 = 0, gw = 0, m = 0;
    for (std::int64_t c = 0; c < s.head_dim; ++c) {
      const double g = got[c], d = g - want[c];
      e2 += d * d;
      w2 += want[c] * want[c];
      g2 += g * g;
      gw += g * want[c];
      m = std::max(m, std::abs(d));
    }
    err_sq[r] = e2;
    ref_sq[r] = w2;
    max_abs[r] = m;
    // Two zero rows agree; one zero row is orthogonal to anything.
    cos[r] = (g2 == 0 && w2 == 0) ? 1.0 : (g2 == 0 || w2 == 0) ? 0.0 : gw / std::sqrt(g2 * w2);
    std::vector<AttentionTerm> terms;
    terms_of(b, h, query, terms);
    std::vector<std::int64_t> keys;  // the rows of K the terms read, each once
    for (const AttentionTerm& term : terms)
      if (term.reads_inputs()) keys.insert(keys.end(), term.keys.begin(), term.keys.end());
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    const float* q = in.q.row(b, h, query);
    double kept = 0;
    for (std::int64_t k : keys) {
      if (in.causal && k > s.position(query)) continue;  // full attention gives them no mass
      kept += std::exp(static_cast<double>(in.scale) * dot(q, in.k.row(b, kv, k), s.head_dim) -
                       ref.score_max[r]);
    }
    mass[r] = kept / ref.score_sum[r];
    std::vector<double> own(static_cast<std::size_t>(s.head_dim));
    reference_terms(in, b, h, query, terms, own);
    for (std::int64_t c = 0; c < s.head_dim; ++c) {
      const double d = static_cast<double>(got[c]) - own[c];
      kernel_err_sq[r] += d * d;
      kernel_ref_sq[r] += own[c] * own[c];
    }
  });
  Accuracy a;
  double e2 = 0, w2 = 0, mass_total = 0, k2 = 0, o2 = 0;
  for (std::int64_t r = 0; r < total; ++r) {
    e2 += err_sq[r];
    w2 += ref_sq[r];
    k2 += kernel_err_sq[r];
    o2 += kernel_ref_sq[r];
    a.max_abs_err = std::max(a.max_abs_err, max_abs[r]);
    a.cos_sim_min = std::min(a.cos_sim_min, cos[r]);
    mass_total += mass[r];
  }
  a.rel_err = w2 > 0 ? std::sqrt(e2 / w2) : std::sqrt(e2);
  a.rel_err_kernel = o2 > 0 ? std::sqrt(k2 / o2) : std::sqrt(k2);
  a.mass_recall = total > 0 ? mass_total / static_cast<double>(total) : 1.0;
  return a;
}

}  // namespace attn::harness
