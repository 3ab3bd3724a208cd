#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "attention/core/tensor.hpp"
#include "attention/core/variant.hpp"
#include "attention/engine/block_pattern.hpp"
#include "attention/numeric/prefetch_stream.hpp"

namespace attn {

// The one hot loop every non-textbook variant shares: tiled attention with the online-softmax
// recurrence (running max m, running sum l, rescaled accumulator) over the key ranges a
// pattern gives each block of queries. O(N·D) memory, never an N×N buffer; exact for any shape.
// The pattern is asked in absolute positions (query i of M is position N - M + i). Parallel
// over (batch, kv head, query block) with oneTBB: the query heads of one kv group are stacked
// into one block of rows, so K and V are read once per group; with too few such tasks (decode)
// each block's keys are split into parts merged by their log-sum-exp.
void block_attention(const AttentionInputs& inputs, const BlockPattern& pattern,
                     MutableTensorView out);

// How block_attention divides a shape into work (exposed for the workspace count and tests).
struct EnginePlan {
  std::int64_t group = 1;        // query heads per kv head, stacked into one block
  std::int64_t query_block = 1;  // queries per head in one block
  std::int64_t blocks = 1;       // query blocks per (batch, kv head)
  std::int64_t tasks = 1;        // batch · kv_heads · blocks
  std::int64_t rows = 1;         // most rows of a block: group · min(query_block, query_len)
  std::int64_t splits = 1;       // parts each block's keys are split into
  std::int64_t lead = 0;         // queries the first block lacks to start on a pattern block

  // Queries [begin, end) of block t (of query_len).
  std::pair<std::int64_t, std::int64_t> block_queries(std::int64_t t,
                                                      std::int64_t query_len) const {
    return {std::max<std::int64_t>(0, t * query_block - lead),
            std::min(query_len, (t + 1) * query_block - lead)};
  }
};
EnginePlan plan_block_attention(const AttentionShape& shape, std::int64_t pattern_block);

// Bytes of workspace block_attention allocates at peak with `threads` workers, for a pattern
// whose query_block() is `pattern_block`.
std::int64_t block_attention_workspace_bytes(const AttentionShape& shape, int threads,
                                             std::int64_t pattern_block = 0);

// The union of several blocks' key ranges, masked wherever not every list attends in full.
void union_of_key_ranges(std::span<const std::vector<KeyRange>> lists, std::vector<KeyRange>& out);
// Part `part` of `parts` of the keys of `ranges`, cut into equal counts in key order.
void split_key_ranges(std::span<const KeyRange> ranges, std::int64_t part, std::int64_t parts,
                      std::vector<KeyRange>& out);

// ---- Lower level: the same kernel over caller-owned, gathered buffers ------------------------
//
// For variants that reorder tokens before attending (LSH sorts queries and keys by bucket):
// the caller gathers its queries, keys and values into contiguous rows, describes which key
// rows each block of query rows visits, and supplies its own element mask. attend_rows runs
// the engine's online-softmax kernel on one such block on the calling thread; the caller
// parallelises over blocks (one EngineWorkspace per thread, e.g. tbb::enumerable_thread_specific).

// A non-owning reference to a mask callable with BlockPattern::mask_tile's contract, in the
// caller's coordinates: mask(q_begin, q_end, k_begin, k_end, scores, ld) sets the score of
// query q_begin + r and key k_begin + c to -inf wherever that pair may not attend. Query
// indices are RowBlock::first_query + row; key indices are the rows of RowBlock::k and v.
// A query-major mask writes scores[r * ld + c] (BlockPattern's layout); a key-major mask writes
// scores[c * ld + r] straight into the engine's own score tile, which saves a transposing pass
// and lets the mask vectorise across queries (LSH masks every tile of its later rounds).
// Cheap to copy; the callable must outlive the call.
enum class MaskLayout { kQueryMajor, kKeyMajor };

class TileMaskRef {
 public:
  TileMaskRef() = default;  // no mask: ranges flagged masked are then attended in full
  template <class F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, TileMaskRef>)
      TileMaskRef(const F& mask,  // NOLINT(google-explicit-constructor): used like a function_ref
                  MaskLayout layout = MaskLayout::kQueryMajor)
      : object_(&mask),
        call_([](const void* object, std::int64_t q_begin, std::int64_t q_end, std::int64_t k_begin,
                 std::int64_t k_end, float* scores, std::int64_t ld) {
          (*static_cast<const F*>(object))(q_begin, q_end, k_begin, k_end, scores, ld);
        }),
        layout_(layout) {}

  explicit operator bool() const { return call_ != nullptr; }
  MaskLayout layout() const { return layout_; }
  void operator()(std::int64_t q_begin, std::int64_t q_end, std::int64_t k_begin,
                  std::int64_t k_end, float* scores, std::int64_t ld) const {
    call_(object_, q_begin, q_end, k_begin, k_end, scores, ld);
  }

 private:
  const void* object_ = nullptr;
  void (*call_)(const void*, std::int64_t, std::int64_t, std::int64_t, std::int64_t, float*,
                std::int64_t) = nullptr;
  MaskLayout layout_ = MaskLayout::kQueryMajor;
};

// One block of gathered query rows and the key rows it visits.
struct RowBlock {
  const float* q = nullptr;  // rows × head_dim, row i at q + i * q_stride
  std::int64_t q_stride = 0;
  std::int64_t rows = 0;         // any count; the engine tiles it internally
  std::int64_t first_query = 0;  // index of row 0 as the mask callback sees it
  const float* k = nullptr;      // key row j at k + j * kv_stride, likewise v
  const float* v = nullptr;
  std::int64_t kv_stride = 0;
  // bf16 keys and values (a bf16 forward): when set, they are read instead of k and v, with the
  // same kv_stride, and the probabilities are rounded to bf16 for P·V. The workspace must have
  // been made for bf16.
  const bf16* k16 = nullptr;
  const bf16* v16 = nullptr;
  // A quantized cache's keys and values (row j of the block at from_row(j)): when set, they are
  // read instead of k and v, dequantized a tile at a time. The workspace must widen tiles.
  QuantizedRows kq{}, vq{};
  // Key rows every query of the block visits: ascending, non-overlapping; `masked` ranges are
  // passed through the mask, unmasked ones attended in full by every row.
  std::span<const KeyRange> ranges;
  float* out = nullptr;  // rows × head_dim, row i at out + i * out_stride
  std::int64_t out_stride = 0;
  // Optional, `rows` values: ln Σ_j exp(scale · q·k_j) over the attended keys (-inf for a row
  // with none), so that results over different key sets (hash rounds) can be merged exactly.
  float* log_sum_exp = nullptr;
  // Optional: lines the kernels prefetch while they compute this block (see PrefetchStream).
  PrefetchStream* prefetch = nullptr;
  // Score tiles of at most kernel::kFewRows rows by dot products (decode-sized blocks) rather
  // than by the register-blocked kernel, which pads rows to row_granularity(). Off by default
  // so that a large block's ragged last tile rounds as it always did.
  bool few_rows = false;
};

// Per-thread scratch of attend_rows: O(head_dim · tile) floats, independent of N.
class EngineWorkspace {
 public:
  explicit EngineWorkspace(std::int64_t head_dim, Dtype dtype = Dtype::kFp32,
                           KvQuantization kv = KvQuantization::kNone);
  std::int64_t head_dim() const { return head_dim_; }
  static std::int64_t bytes(std::int64_t head_dim, Dtype dtype = Dtype::kFp32,
                            KvQuantization kv = KvQuantization::kNone);

 private:
  friend void attend_rows(const RowBlock&, float, TileMaskRef, EngineWorkspace&);
  std::int64_t head_dim_ = 0;
  std::int64_t padded_dim_ = 0;  // head_dim rounded up to the SIMD width
  AlignedBuffer<float> queries_t_, scores_t_, mask_, acc_, values_, row_state_;
  // One widened bf16 or dequantized tile each (bf16 or a quantized cache only).
  AlignedBuffer<float> keys_wide_, values_wide_;
  // bf16 only: the queries, probabilities and values of a tile as bf16 pairs, for the pair
  // kernels of kernel/bf16_pairs.hpp.
  AlignedBuffer<std::uint32_t> query_pairs_, probability_pairs_, value_pairs_;
  // A block's adjacent key ranges joined, walked in whole tiles (attend_rows).
  std::vector<KeyRange> spans_;
};

// Attention of block.rows query rows over block.ranges of the gathered keys, written to
// block.out (zeros for a row with no allowed key). `scale` multiplies q·k.
void attend_rows(const RowBlock& block, float scale, TileMaskRef mask, EngineWorkspace& workspace);

}  // namespace attn
