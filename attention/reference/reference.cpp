#include "attention/reference/reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

// The reference's inner loops only read the inputs and write the caller's row, so a data race
// cannot start in them; under ThreadSanitizer their instrumentation took about 80% of the
// registry test's time (fp64 over every key of every row), so TSan leaves them out.
#if defined(__SANITIZE_THREAD__)
#define ATTN_NOT_TSAN_INSTRUMENTED __attribute__((no_sanitize("thread")))
#else
#define ATTN_NOT_TSAN_INSTRUMENTED
#endif

namespace attn {
namespace {

ATTN_NOT_TSAN_INSTRUMENTED double dot(const float* a, const float* b, std::int64_t n) {
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return s;
}

// out += w · v over d elements.
ATTN_NOT_TSAN_INSTRUMENTED void accumulate_row(double w, const float* v, std::int64_t d,
                                               double* out) {
  for (std::int64_t c = 0; c < d; ++c) out[c] += w * static_cast<double>(v[c]);
}

}  // namespace

void reference_row(const AttentionInputs& inputs, std::int64_t b, std::int64_t h,
                   std::int64_t query, std::span<const std::int64_t> keys, std::span<double> out) {
  const std::int64_t d = inputs.shape().head_dim;
  std::fill(out.begin(), out.end(), 0.0);
  if (keys.empty()) return;
  const float* q = inputs.q.row(b, h, query);
  const std::int64_t kv = inputs.shape().kv_head(h);
  std::vector<double> scores(keys.size());
  double max_score = -std::numeric_limits<double>::infinity();
  for (std::size_t j = 0; j < keys.size(); ++j) {
    scores[j] = static_cast<double>(inputs.scale) * dot(q, inputs.k.row(b, kv, keys[j]), d);
    max_score = std::max(max_score, scores[j]);
  }
  double sum = 0;
  for (double& s : scores) {
    s = std::exp(s - max_score);
    sum += s;
  }
  for (std::size_t j = 0; j < keys.size(); ++j)
    accumulate_row(scores[j] / sum, inputs.v.row(b, kv, keys[j]), d, out.data());
}

void reference_terms(const AttentionInputs& inputs, std::int64_t b, std::int64_t h,
                     std::int64_t query, std::span<const AttentionTerm> terms,
                     std::span<double> out) {
  const std::int64_t d = inputs.shape().head_dim;
  std::fill(out.begin(), out.end(), 0.0);
  const float* q = inputs.q.row(b, h, query);
  const std::int64_t kv = inputs.shape().kv_head(h);
  std::vector<double> scores, row(static_cast<std::size_t>(d));
  for (const AttentionTerm& term : terms) {
    if (term.keys.empty()) continue;
    const std::size_t count = term.keys.size();
    scores.assign(count, 0.0);
    double max_score = -std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j < count; ++j) {
      double dot_product = 0;
      if (term.reads_inputs()) {
        dot_product = dot(q, inputs.k.row(b, kv, term.keys[j]), d);
      } else {
        const double* k = term.k_rows.data() + j * static_cast<std::size_t>(d);
        for (std::int64_t c = 0; c < d; ++c) dot_product += static_cast<double>(q[c]) * k[c];
      }
      scores[j] = static_cast<double>(inputs.scale) * dot_product +
                  (term.log_weights.empty() ? 0.0 : term.log_weights[j]);
      max_score = std::max(max_score, scores[j]);
    }
    double sum = 0;
    for (double& s : scores) sum += (s = std::exp(s - max_score));
    std::fill(row.begin(), row.end(), 0.0);
    for (std::size_t j = 0; j < count; ++j) {
      if (term.reads_inputs()) {
        accumulate_row(scores[j] / sum, inputs.v.row(b, kv, term.keys[j]), d, row.data());
      } else {
        const double* v = term.v_rows.data() + j * static_cast<std::size_t>(d);
        for (std::int64_t c = 0; c < d; ++c) row[c] += scores[j] / sum * v[c];
      }
    }
    for (std::int64_t c = 0; c < d; ++c) out[c] += term.gate * row[c];
  }
}

void full_attention_keys(const AttentionInputs& inputs, std::int64_t query,
                         std::vector<std::int64_t>& out) {
  const AttentionShape s = inputs.shape();
  const std::int64_t end = inputs.causal ? s.position(query) + 1 : s.seq_len;
  out.resize(static_cast<std::size_t>(end));
  for (std::int64_t k = 0; k < end; ++k) out[k] = k;
}

void full_attention_weights(const AttentionInputs& inputs, std::int64_t b, std::int64_t h,
                            std::int64_t query, std::vector<double>& weights) {
  const AttentionShape s = inputs.shape();
  const std::int64_t end = inputs.causal ? s.position(query) + 1 : s.seq_len;
  weights.assign(static_cast<std::size_t>(s.seq_len), 0.0);
  const float* q = inputs.q.row(b, h, query);
  const std::int64_t kv = s.kv_head(h);
  double max_score = -std::numeric_limits<double>::infinity();
  for (std::int64_t k = 0; k < end; ++k) {
    weights[k] = static_cast<double>(inputs.scale) * dot(q, inputs.k.row(b, kv, k), s.head_dim);
    max_score = std::max(max_score, weights[k]);
  }
  double sum = 0;
  for (std::int64_t k = 0; k < end; ++k) {
    weights[k] = std::exp(weights[k] - max_score);
    sum += weights[k];
  }
  for (std::int64_t k = 0; k < end; ++k) weights[k] /= sum;
}

}  // namespace attn
