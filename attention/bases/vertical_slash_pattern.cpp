#include "attention/bases/vertical_slash_pattern.hpp"

#include <algorithm>
#include <limits>

namespace attn {

VerticalSlashPattern::VerticalSlashPattern(const AttentionShape& shape, bool causal)
    : shape_(shape),
      causal_(causal),
      columns_(static_cast<std::size_t>(shape.problems())),
      offsets_(columns_.size()),
      is_column_(columns_.size()) {}

void VerticalSlashPattern::set(std::int64_t b, std::int64_t h, std::vector<std::int64_t> columns,
                               std::vector<std::int64_t> offsets) {
  const std::size_t at = index(b, h);
  is_column_[at].assign(static_cast<std::size_t>(shape_.seq_len), 0);
  for (std::int64_t c : columns) is_column_[at][static_cast<std::size_t>(c)] = 1;
  columns_[at] = std::move(columns);
  offsets_[at] = std::move(offsets);
}

void VerticalSlashPattern::key_ranges(std::int64_t b, std::int64_t h, std::int64_t q_begin,
                                      std::int64_t q_end, std::vector<KeyRange>& out) const {
  out.clear();
  thread_local std::vector<KeyRange> pieces;
  pieces.clear();
  const std::size_t at = index(b, h);
  const std::int64_t n = shape_.seq_len, key_end = causal_ ? q_end : n;
  for (std::int64_t c : columns_[at]) {
    if (c >= key_end) break;
    // Every query of the block sees a column at or before its first query.
    pieces.push_back({c, c + 1, causal_ && c > q_begin});
  }
  for (std::int64_t o : offsets_[at]) {
    const std::int64_t lo = std::max<std::int64_t>(0, q_begin - o);
    const std::int64_t hi = std::min(key_end, q_end - o);
    if (lo < hi) pieces.push_back({lo, hi, true});
  }
  std::sort(pieces.begin(), pieces.end(),
            [](const KeyRange& x, const KeyRange& y) { return x.begin < y.begin; });
  // Overlapping pieces merge, masked if any of them is.
  for (std::size_t i = 0; i < pieces.size();) {
    KeyRange merged = pieces[i++];
    while (i < pieces.size() && pieces[i].begin < merged.end) {
      merged.end = std::max(merged.end, pieces[i].end);
      merged.masked = merged.masked || pieces[i].masked;
      ++i;
    }
    append_key_range(out, merged.begin, merged.end, merged.masked);
  }
}

bool VerticalSlashPattern::allowed(std::int64_t b, std::int64_t h, std::int64_t q,
                                   std::int64_t k) const {
  if (k < 0 || k >= shape_.seq_len || (causal_ && k > q)) return false;
  const std::size_t at = index(b, h);
  if (!is_column_[at].empty() && is_column_[at][static_cast<std::size_t>(k)]) return true;
  return std::binary_search(offsets_[at].begin(), offsets_[at].end(), q - k);
}

void VerticalSlashPattern::mask_tile(std::int64_t b, std::int64_t h, std::int64_t q_begin,
                                     std::int64_t q_end, std::int64_t k_begin, std::int64_t k_end,
                                     float* scores, std::int64_t ld) const {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const std::size_t at = index(b, h);
  const std::vector<std::int64_t>& offsets = offsets_[at];
  thread_local std::vector<char> keep;
  for (std::int64_t q = q_begin; q < q_end; ++q) {
    if (is_column_[at].empty())
      keep.assign(static_cast<std::size_t>(k_end - k_begin), 0);
    else
      keep.assign(is_column_[at].data() + k_begin, is_column_[at].data() + k_end);
    // Diagonals through this tile: offsets in (q - k_end, q - k_begin].
    for (auto o = std::upper_bound(offsets.begin(), offsets.end(), q - k_end);
         o != offsets.end() && *o <= q - k_begin; ++o)
      keep[static_cast<std::size_t>(q - *o - k_begin)] = 1;
    float* row = scores + (q - q_begin) * ld;
    for (std::int64_t k = k_begin; k < k_end; ++k)
      if (!keep[static_cast<std::size_t>(k - k_begin)] || (causal_ && k > q))
        row[k - k_begin] = kNegInf;
  }
}

std::int64_t VerticalSlashPattern::pairs(std::int64_t b, std::int64_t h) const {
  std::int64_t total = 0;
  const std::int64_t n = shape_.seq_len;
  const std::size_t at = index(b, h);
  const auto& columns = columns_[at];
  for (std::int64_t i = 0; i < shape_.query_len; ++i) {
    const std::int64_t p = shape_.position(i), key_end = causal_ ? p + 1 : n;
    total += std::lower_bound(columns.begin(), columns.end(), key_end) - columns.begin();
    for (std::int64_t o : offsets_[at]) {
      const std::int64_t k = p - o;
      if (k >= 0 && k < key_end &&
          (is_column_[at].empty() || !is_column_[at][static_cast<std::size_t>(k)]))
        ++total;
    }
  }
  return total;
}

std::int64_t VerticalSlashPattern::pairs() const {
  std::int64_t total = 0;
  for (std::int64_t b = 0; b < shape_.batch; ++b)
    for (std::int64_t h = 0; h < shape_.heads; ++h) total += pairs(b, h);
  return total;
}

}  // namespace attn
