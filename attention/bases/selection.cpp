#include "attention/bases/selection.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <numeric>
#include <utility>

#include "attention/bases/gathered_attention.hpp"
#include "attention/engine/block_engine.hpp"
#include "attention/numeric/microkernel.hpp"

namespace attn {

void PatternSelection::keys(std::int64_t b, std::int64_t h, std::int64_t query,
                            std::vector<std::int64_t>& out) const {
  pattern_->keys_of(b, h, shape_.position(query), out);
}

void PatternSelection::attend(const AttentionInputs& inputs, MutableTensorView out) const {
  // Blocks chosen per query differ between neighbouring queries: their union over a query block
  // would be attended mostly masked, so those queries are gathered per key block instead.
  if (const auto* blocks = dynamic_cast<const KeyBlockPattern*>(pattern_.get());
      blocks != nullptr && blocks->query_group() == 1) {
    attend_gathered_queries(inputs, *blocks, out);
    return;
  }
  block_attention(inputs, *pattern_, out);
}

KeyBlockPattern::KeyBlockPattern(const AttentionShape& shape, bool causal, std::int64_t key_block,
                                 std::int64_t query_group, std::int64_t slots)
    : shape_(shape),
      causal_(causal),
      key_block_(key_block),
      query_group_(query_group),
      slots_(slots),
      first_group_(shape.first_position() / query_group),
      groups_((shape.seq_len - 1) / query_group - shape.first_position() / query_group + 1),
      blocks_(static_cast<std::size_t>(shape.batch * shape.heads * groups_ * slots), -1) {}

void KeyBlockPattern::finish() {
  for (std::size_t at = 0; at < blocks_.size(); at += static_cast<std::size_t>(slots_)) {
    std::int32_t* list = blocks_.data() + at;
    // -1 sorts last as the largest unsigned value.
    std::sort(list, list + slots_, [](std::int32_t x, std::int32_t y) {
      return static_cast<std::uint32_t>(x) < static_cast<std::uint32_t>(y);
    });
    std::int32_t* end = std::unique(list, list + slots_);
    std::fill(end, list + slots_, -1);
  }
}

void KeyBlockPattern::key_ranges(std::int64_t b, std::int64_t h, std::int64_t q_begin,
                                 std::int64_t q_end, std::vector<KeyRange>& out) const {
  out.clear();
  // (block, queries of [q_begin, q_end) whose group lists it), summed over the groups.
  thread_local std::vector<std::pair<std::int32_t, std::int64_t>> counts;
  counts.clear();
  for (std::int64_t g = group_of(q_begin); g <= group_of(q_end - 1); ++g) {
    const std::int64_t lo = std::max(q_begin, (g + first_group_) * query_group_);
    const std::int64_t hi = std::min(q_end, (g + first_group_ + 1) * query_group_);
    const std::int32_t* list = blocks(b, h, g);
    for (std::int64_t s = 0; s < slots_ && list[s] >= 0; ++s) counts.emplace_back(list[s], hi - lo);
  }
  std::sort(counts.begin(), counts.end());
  const std::int64_t rows = q_end - q_begin;
  for (std::size_t i = 0; i < counts.size();) {
    const std::int32_t block = counts[i].first;
    std::int64_t queries = 0;
    for (; i < counts.size() && counts[i].first == block; ++i) queries += counts[i].second;
    const std::int64_t begin = block * key_block_;
    std::int64_t end = std::min(shape_.seq_len, begin + key_block_);
    if (causal_) end = std::min(end, q_end);  // no query of the block sees keys past q_end - 1
    if (begin >= end) continue;
    // Unmasked only if every query lists the block and (causal) sees all of it.
    const bool full = queries == rows && (!causal_ || end - 1 <= q_begin);
    append_key_range(out, begin, end, !full);
  }
}

bool KeyBlockPattern::allowed(std::int64_t b, std::int64_t h, std::int64_t q,
                              std::int64_t k) const {
  if (k < 0 || k >= shape_.seq_len || (causal_ && k > q)) return false;
  const std::int32_t* list = blocks(b, h, group_of(q));
  const auto block = static_cast<std::int32_t>(k / key_block_);
  for (std::int64_t s = 0; s < slots_ && list[s] >= 0; ++s)
    if (list[s] == block) return true;
  return false;
}

void KeyBlockPattern::mask_tile(std::int64_t b, std::int64_t h, std::int64_t q_begin,
                                std::int64_t q_end, std::int64_t k_begin, std::int64_t k_end,
                                float* scores, std::int64_t ld) const {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  for (std::int64_t q = q_begin; q < q_end; ++q) {
    float* row = scores + (q - q_begin) * ld;
    const std::int64_t last = causal_ ? std::min(k_end, q + 1) : k_end;  // keys < last may pass
    const std::int32_t* list = blocks(b, h, group_of(q));
    std::int64_t k = k_begin;  // keys before k are done
    for (std::int64_t s = 0; s < slots_ && list[s] >= 0 && k < last; ++s) {
      const std::int64_t lo = std::max(k, list[s] * key_block_);
      const std::int64_t hi = std::min(last, (list[s] + 1) * key_block_);
      if (lo >= hi) continue;
      std::fill(row + (k - k_begin), row + (lo - k_begin), kNegInf);
      k = hi;
    }
    std::fill(row + (k - k_begin), row + (k_end - k_begin), kNegInf);
  }
}

std::int64_t KeyBlockPattern::pairs() const {
  std::int64_t total = 0;
  for (std::int64_t b = 0; b < shape_.batch; ++b)
    for (std::int64_t h = 0; h < shape_.heads; ++h)
      for (std::int64_t i = 0; i < shape_.query_len; ++i) {
        const std::int64_t p = shape_.position(i);
        const std::int32_t* list = blocks(b, h, group_of(p));
        for (std::int64_t s = 0; s < slots_ && list[s] >= 0; ++s) {
          const std::int64_t begin = list[s] * key_block_;
          std::int64_t end = std::min(shape_.seq_len, begin + key_block_);
          if (causal_) end = std::min(end, p + 1);
          total += std::max<std::int64_t>(0, end - begin);
        }
      }
  return total;
}

KeyListSelection::KeyListSelection(const AttentionShape& shape)
    : shape_(shape), rows_(static_cast<std::size_t>(shape.batch * shape.heads * shape.query_len)) {}

void KeyListSelection::set_row(std::int64_t b, std::int64_t h, std::int64_t query,
                               const std::vector<std::int32_t>& sorted_keys) {
  rows_[static_cast<std::size_t>((b * shape_.heads + h) * shape_.query_len + query)] = sorted_keys;
}

void KeyListSelection::keys(std::int64_t b, std::int64_t h, std::int64_t query,
                            std::vector<std::int64_t>& out) const {
  const auto [list, n] = row(b, h, query);
  out.assign(list, list + n);
}

std::int64_t KeyListSelection::pairs() const {
  std::int64_t total = 0;
  for (const auto& list : rows_) total += static_cast<std::int64_t>(list.size());
  return total;
}

void KeyListSelection::attend(const AttentionInputs& inputs, MutableTensorView out) const {
  gathered_attention(inputs, *this, out);
}

namespace {

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

}  // namespace

void top_k_keys(const float* scores, std::int64_t visible, std::int64_t k,
                std::vector<std::uint32_t>& bits, std::vector<std::int32_t>& keys) {
  k = std::min(k, visible);
  keys.clear();
  if (k == visible) {
    for (std::int64_t j = 0; j < visible; ++j) keys.push_back(static_cast<std::int32_t>(j));
    return;
  }
  // The k-th largest score, then every key above it and the lowest-index ties.
  const float threshold = kth_largest(scores, visible, k, bits);
  std::int64_t above = 0;
  for (std::int64_t j = 0; j < visible; ++j) above += scores[j] > threshold ? 1 : 0;
  std::int64_t ties = k - above;
  for (std::int64_t j = 0; j < visible; ++j)
    if (scores[j] > threshold || (scores[j] == threshold && ties-- > 0))
      keys.push_back(static_cast<std::int32_t>(j));
}

std::vector<std::int64_t> cover_mass(const double* mass, std::int64_t count, double threshold) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(count));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::int64_t x, std::int64_t y) { return mass[x] > mass[y]; });
  double sum = 0;
  std::size_t taken = 0;
  while (taken < order.size() && sum < threshold) sum += mass[order[taken++]];
  order.resize(taken);
  return order;
}

void top_k_except(const float* scores, std::int64_t count, std::int64_t except, std::int64_t k,
                  std::vector<std::int32_t>& out) {
  out.clear();
  if (k <= 0) return;
  if (k <= 16) {
    // A small budget (MoBA's 3 blocks per query): one pass keeping the best k, best first. A
    // later candidate that ties the last kept one has the higher index, so it never enters.
    for (std::int64_t c = 0; c < count; ++c) {
      if (c == except) continue;
      if (static_cast<std::int64_t>(out.size()) == k && !(scores[c] > scores[out.back()])) continue;
      if (static_cast<std::int64_t>(out.size()) == k) out.pop_back();
      auto at = out.end();
      while (at != out.begin() && scores[c] > scores[*(at - 1)]) --at;
      out.insert(at, static_cast<std::int32_t>(c));
    }
    std::sort(out.begin(), out.end());
    return;
  }
  for (std::int64_t c = 0; c < count; ++c)
    if (c != except) out.push_back(static_cast<std::int32_t>(c));
  if (static_cast<std::int64_t>(out.size()) > k) {
    const auto better = [scores](std::int32_t a, std::int32_t b) {
      return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
    };
    std::nth_element(out.begin(), out.begin() + k, out.end(), better);
    out.resize(static_cast<std::size_t>(k));
  }
  std::sort(out.begin(), out.end());
}

void block_means(const float* x, std::int64_t rows, std::int64_t d, std::int64_t block,
                 float* out) {
  for (std::int64_t begin = 0; begin < rows; begin += block) {
    const std::int64_t end = std::min(rows, begin + block);
    float* mean = out + begin / block * d;
    std::fill_n(mean, d, 0.0f);
    for (std::int64_t r = begin; r < end; ++r)
      for (std::int64_t e = 0; e < d; ++e) mean[e] += x[r * d + e];
    const float inv = 1.0f / static_cast<float>(end - begin);
    for (std::int64_t e = 0; e < d; ++e) mean[e] *= inv;
  }
}

void score_rows(const float* q, std::int64_t rows, const float* k, std::int64_t cols,
                std::int64_t d, float alpha, float* scores, std::int64_t ld) {
  constexpr std::int64_t kRows = 64, kCols = 128;  // the engine's tile
  const std::int64_t granularity = kernel::row_granularity();
  // Room for kRows queries transposed, or kFewRows row-major ones padded to whole vectors.
  AlignedBuffer<float> q_t(static_cast<std::size_t>((d + kernel::float_lanes()) * kRows));
  AlignedBuffer<float> s_t(static_cast<std::size_t>(kCols * kRows));
  if (rows <= kernel::kFewRows) {
    // Decode: dot products, not the register-blocked kernel's rows padded to its width.
    const std::int64_t dp =
        (d + kernel::float_lanes() - 1) / kernel::float_lanes() * kernel::float_lanes();
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t e = 0; e < d; ++e)
        q_t[static_cast<std::size_t>(r * dp + e)] = alpha * q[r * d + e];
      std::fill(q_t.data() + r * dp + d, q_t.data() + (r + 1) * dp, 0.0f);
    }
    for (std::int64_t c0 = 0; c0 < cols; c0 += kCols) {
      const std::int64_t nc = std::min(kCols, cols - c0);
      kernel::score_tile_few_rows(q_t.data(), dp, rows, k + c0 * d, d, nc, d, s_t.data(), kRows);
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < nc; ++c)
          scores[r * ld + c0 + c] = s_t[static_cast<std::size_t>(c * kRows + r)];
    }
    return;
  }
  for (std::int64_t r0 = 0; r0 < rows; r0 += kRows) {
    const std::int64_t nr = std::min(kRows, rows - r0);
    const std::int64_t padded = (nr + granularity - 1) / granularity * granularity;
    kernel::pack_queries(q + r0 * d, d, nr, padded, d, alpha, q_t.data(), kRows);
    for (std::int64_t c0 = 0; c0 < cols; c0 += kCols) {
      const std::int64_t nc = std::min(kCols, cols - c0);
      kernel::score_tile(q_t.data(), kRows, padded, k + c0 * d, d, nc, d, s_t.data(), kRows);
      for (std::int64_t r = 0; r < nr; ++r)
        for (std::int64_t c = 0; c < nc; ++c)
          scores[(r0 + r) * ld + c0 + c] = s_t[static_cast<std::size_t>(c * kRows + r)];
    }
  }
}

}  // namespace attn
