#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace attn {

// A range of keys [begin, end) that a block of queries visits. `masked` says the pattern's
// element mask must be applied inside it; an unmasked range is attended by every query of
// the block in full.
struct KeyRange {
  std::int64_t begin = 0;
  std::int64_t end = 0;
  bool masked = false;

  friend bool operator==(const KeyRange&, const KeyRange&) = default;
};

// Appends [begin, end) to `out` (nothing if empty), merged into the last range when the two
// touch and agree on masking, so the engine sees as few ranges as possible.
void append_key_range(std::vector<KeyRange>& out, std::int64_t begin, std::int64_t end,
                      bool masked);

// Appends a band of keys [lo, hi) of which every query of the block attends [inner_lo, inner_hi)
// in full: the interior unmasked, the ragged edges masked (all masked if the interior is empty).
void append_band(std::vector<KeyRange>& out, std::int64_t lo, std::int64_t hi,
                 std::int64_t inner_lo, std::int64_t inner_hi);

// A sparsity pattern for one shape: which keys each query attends. Queries are named by their
// absolute position p (query i of M sits at N - M + i), keys by theirs (0..N-1), heads by the
// query head. The block engine asks it,
// per block of queries, for the key ranges to visit, and applies the element mask inside the
// ranges flagged `masked`.
//
// Contract (checked by the registry test through Variant::keys):
// - allowed(b, h, q, k) is the exact key set of query q;
// - key_ranges(b, h, q_begin, q_end) covers every allowed key of every query in the block,
//   ascending and non-overlapping, and flags a range unmasked only if every query of the block
//   may attend every key in it.
class BlockPattern {
 public:
  virtual ~BlockPattern() = default;

  // Preferred number of queries per block (0: the engine's own choice). Block-structured
  // patterns such as BigBird return their block so that whole ranges stay unmasked.
  virtual std::int64_t query_block() const { return 0; }

  // Clears `out`, then appends the key ranges queries [q_begin, q_end) of problem (b, h) visit.
  virtual void key_ranges(std::int64_t b, std::int64_t h, std::int64_t q_begin, std::int64_t q_end,
                          std::vector<KeyRange>& out) const = 0;

  // Whether query q of problem (b, h) attends key k.
  virtual bool allowed(std::int64_t b, std::int64_t h, std::int64_t q, std::int64_t k) const = 0;

  // Sets scores[r * ld + c] to -inf wherever query q_begin + r may not attend key k_begin + c.
  // The default asks allowed() per element; patterns with a cheap closed form override it.
  virtual void mask_tile(std::int64_t b, std::int64_t h, std::int64_t q_begin, std::int64_t q_end,
                         std::int64_t k_begin, std::int64_t k_end, float* scores,
                         std::int64_t ld) const;

  // The same mask in the engine's transposed layout: scores[c * ld + r] to -inf wherever query
  // q_begin + r may not attend key k_begin + c. The engine calls it instead of transposing
  // mask_tile's tile (a select per score of every masked tile) when masks_key_major() is true,
  // which a pattern with a closed form per key (a window) says. The default asks allowed().
  virtual bool masks_key_major() const { return false; }
  virtual void mask_tile_key_major(std::int64_t b, std::int64_t h, std::int64_t q_begin,
                                   std::int64_t q_end, std::int64_t k_begin, std::int64_t k_end,
                                   float* scores, std::int64_t ld) const;

  // The sorted keys of the query at `position`, derived from key_ranges and allowed; used by
  // Variant::keys.
  void keys_of(std::int64_t b, std::int64_t h, std::int64_t position,
               std::vector<std::int64_t>& out) const;
};

// One key's column of a key-major tile (mask_tile_key_major), queries [q_begin, q_end): masks
// every query outside [lo, hi), both clamped to the tile. A window's mask is this for each key.
inline void mask_queries_outside(float* column, std::int64_t q_begin, std::int64_t q_end,
                                 std::int64_t lo, std::int64_t hi) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  lo = std::clamp(lo, q_begin, q_end);
  hi = std::clamp(hi, lo, q_end);
  std::fill(column, column + (lo - q_begin), kNegInf);
  std::fill(column + (hi - q_begin), column + (q_end - q_begin), kNegInf);
}

}  // namespace attn
