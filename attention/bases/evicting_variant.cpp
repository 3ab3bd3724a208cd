#include "attention/bases/evicting_variant.hpp"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "attention/engine/block_engine.hpp"

namespace attn {

std::int64_t KeptKeys::kept() const {
  std::int64_t total = 0;
  for (const Head& h : heads_) total += static_cast<std::int64_t>(h.keys.size());
  return total;
}

std::int64_t KeptKeys::bytes() const {
  return kept() * static_cast<std::int64_t>(sizeof(std::int32_t) + sizeof(double));
}

std::vector<double> KeptKeys::values() const {
  std::vector<double> all{static_cast<double>(length())};
  for (const Head& h : heads_) {
    all.push_back(static_cast<double>(h.keys.size()));
    all.insert(all.end(), h.keys.begin(), h.keys.end());
    all.insert(all.end(), h.scores.begin(), h.scores.end());
  }
  return all;
}

std::string EvictingVariant::unsupported(const AttentionShape& shape, bool) const {
  if (shape.query_len < shape.seq_len) return {};
  return name() +
         " evicts tokens from a KV cache while decoding; a square (prefill) point has no cache "
         "to compress. Allowed: --decode-steps T, or --query-len below --seq-len";
}

void EvictingVariant::check(const AttentionShape& shape, bool causal) const {
  Variant::check(shape, causal);
  if (budget() > shape.seq_len)
    throw std::invalid_argument(name() + ": budget=" + std::to_string(budget()) +
                                " is above the cache's N=" + std::to_string(shape.seq_len) +
                                " keys; allowed: budget 1 to " + std::to_string(shape.seq_len));
}

std::unique_ptr<CacheState> EvictingVariant::start_session(const AttentionInputs& prefill) const {
  const AttentionShape s = prefill.shape();
  auto kept = std::make_unique<KeptKeys>(s.batch * s.kv_heads);
  compress(prefill, *kept);
  kept->set_length(s.seq_len);
  return kept;
}

void EvictingVariant::extend_session(CacheState& state, const AttentionInputs& step) const {
  auto& kept = dynamic_cast<KeptKeys&>(state);
  const std::int64_t n = step.shape().seq_len;
  if (n != kept.length() + 1)
    throw std::logic_error(name() + ": a step appends one token; the cache went from " +
                           std::to_string(kept.length()) + " to " + std::to_string(n) + " keys");
  append(step, kept);
  kept.set_length(n);
}

std::shared_ptr<const Selection> EvictingVariant::select(const AttentionInputs& inputs) const {
  const std::unique_ptr<CacheState> kept = start_session(inputs);
  return select_from_state(inputs, *kept);
}

std::shared_ptr<const Selection> EvictingVariant::select_from_state(const AttentionInputs& in,
                                                                    const CacheState& state) const {
  const auto& kept = dynamic_cast<const KeptKeys&>(state);
  const AttentionShape s = in.shape();
  auto selection = std::make_shared<KeyListSelection>(s);
  tbb::parallel_for(std::int64_t{0}, s.batch * s.heads, [&](std::int64_t bh) {
    const std::int64_t b = bh / s.heads, h = bh % s.heads;
    const std::vector<std::int32_t>& keys = kept.head(b * s.kv_heads + s.kv_head(h)).keys;
    std::vector<std::int32_t> visible;
    for (std::int64_t i = 0; i < s.query_len; ++i) {
      if (!in.causal || s.position(i) >= s.seq_len - 1) {
        selection->set_row(b, h, i, keys);
        continue;
      }
      const auto end = std::upper_bound(keys.begin(), keys.end(), s.position(i));
      visible.assign(keys.begin(), end);
      selection->set_row(b, h, i, visible);
    }
  });
  return selection;
}

std::int64_t EvictingVariant::session_cache_bytes(const AttentionInputs& step,
                                                  const CacheState* state) const {
  const AttentionShape s = step.shape();
  const auto& kept = dynamic_cast<const KeptKeys&>(*state);
  return kept.kept() * 2 * s.kv_row_bytes() + kept.bytes();
}

Cost EvictingVariant::cost(const AttentionShape& s, bool causal, int threads) const {
  const std::int64_t per_query = std::min(s.seq_len, budget() + s.query_len);
  const std::int64_t pairs = std::min(checked_product(s.query_len, per_query, "pairs"),
                                      dense_pairs_per_problem(s, causal));
  // The window's scores of one kv head at a time per worker, and the kept lists.
  const std::int64_t scoring = 8 * threads * std::min<std::int64_t>(s.query_len, 64) * s.seq_len;
  return {checked_product(s.problems(), pairs, "pairs"),
          block_attention_workspace_bytes(s, threads) + scoring +
              12 * s.batch * s.kv_heads * per_query + 4 * s.problems() * s.query_len * per_query};
}

void window_attention(const AttentionInputs& in, std::int64_t b, std::int64_t kv, std::int64_t rows,
                      std::vector<double>& weights) {
  const AttentionShape s = in.shape();
  const std::int64_t n = s.seq_len, d = s.head_dim, m = s.query_len;
  const std::int64_t first = m - std::min(rows, m);
  weights.assign(static_cast<std::size_t>(n), 0.0);
  std::vector<float> scores(static_cast<std::size_t>(n));
  std::vector<double> p(static_cast<std::size_t>(n));
  for (std::int64_t h = kv * s.group(); h < (kv + 1) * s.group(); ++h)
    for (std::int64_t i = first; i < m; ++i) {
      const std::int64_t visible = in.causal ? s.position(i) + 1 : n;
      score_rows(in.q.row(b, h, i), 1, in.k.head(b, kv), visible, d, in.scale, scores.data(),
                 visible);
      const double top = *std::max_element(scores.begin(), scores.begin() + visible);
      double sum = 0;
      for (std::int64_t j = 0; j < visible; ++j) sum += (p[j] = std::exp(scores[j] - top));
      for (std::int64_t j = 0; j < visible; ++j)
        weights[j] += p[j] / sum / static_cast<double>(s.group());
    }
}

void attention_over(const AttentionInputs& step, std::int64_t b, std::int64_t kv,
                    const std::vector<std::int32_t>& keys, std::vector<double>& weights) {
  const AttentionShape s = step.shape();
  const std::int64_t d = s.head_dim, count = static_cast<std::int64_t>(keys.size());
  // Kept between steps: fresh buffers of a budget's rows cost more in page faults than the
  // scoring itself.
  thread_local std::vector<float> rows, scores;
  rows.resize(static_cast<std::size_t>(count * d));
  scores.resize(keys.size());
  const float* k = step.k.head(b, kv);
  for (std::int64_t j = 0; j < count; ++j) std::copy_n(k + keys[j] * d, d, rows.data() + j * d);
  weights.assign(keys.size(), 0.0);
  for (std::int64_t h = kv * s.group(); h < (kv + 1) * s.group(); ++h) {
    score_rows(step.q.row(b, h, s.query_len - 1), 1, rows.data(), count, d, step.scale,
               scores.data(), count);
    const double top = *std::max_element(scores.begin(), scores.end());
    double sum = 0;
    std::vector<double> p(keys.size());
    for (std::int64_t j = 0; j < count; ++j) sum += (p[j] = std::exp(scores[j] - top));
    for (std::int64_t j = 0; j < count; ++j)
      weights[j] += p[j] / sum / static_cast<double>(s.group());
  }
}

std::vector<std::int32_t> best_positions(const std::vector<double>& scores, std::int64_t n,
                                         std::int64_t k) {
  std::vector<std::int32_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  k = std::clamp<std::int64_t>(k, 0, n);
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](std::int32_t a, std::int32_t b) {
                      return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
                    });
  order.resize(static_cast<std::size_t>(k));
  return order;
}

}  // namespace attn
