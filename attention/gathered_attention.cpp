#include "attention/gathered_attention.hpp"

#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>

#include <algorithm>

#include "attention/block_engine.hpp"

namespace attn {
namespace {

// Rows gathered this far ahead are prefetched: the gathers are latency-bound random row reads.
constexpr std::int64_t kPrefetchAhead = 8;

struct GatherScratch {
  explicit GatherScratch(std::int64_t head_dim) : workspace(head_dim) {}
  EngineWorkspace workspace;
  AlignedBuffer<float> k, v;
  std::int64_t capacity = 0;  // rows k and v hold
};

void prefetch_row(const float* row, std::int64_t floats) {
  for (std::int64_t e = 0; e < floats; e += 16) __builtin_prefetch(row + e, 0, 3);
}

}  // namespace

void gathered_attention(const AttentionInputs& in, const KeyListSelection& selection,
                        MutableTensorView out) {
  check_inputs(in, out);
  const AttentionShape s = in.shape();
  const std::int64_t d = s.head_dim, m = s.query_len;
  tbb::enumerable_thread_specific<GatherScratch> scratch(d);
  tbb::parallel_for(
      tbb::blocked_range<std::int64_t>(0, s.batch * s.heads * m, 16), [&](const auto& range) {
        GatherScratch& local = scratch.local();
        for (std::int64_t item = range.begin(); item < range.end(); ++item) {
          const std::int64_t b = item / (s.heads * m), h = item / m % s.heads, i = item % m;
          const auto [list, n] = selection.row(b, h, i);
          float* o = out.row(b, h, i);
          if (n == 0) {
            std::fill_n(o, d, 0.0f);
            continue;
          }
          if (n > local.capacity) {
            local.capacity = std::max(n, std::min(2 * local.capacity, s.seq_len));
            local.k = AlignedBuffer<float>(static_cast<std::size_t>(local.capacity * d));
            local.v = AlignedBuffer<float>(static_cast<std::size_t>(local.capacity * d));
          }
          const float* k_head = in.k_head(b, h);
          const float* v_head = in.v_head(b, h);
          for (std::int64_t j = 0; j < n; ++j) {
            if (j + kPrefetchAhead < n) {
              prefetch_row(k_head + list[j + kPrefetchAhead] * d, d);
              prefetch_row(v_head + list[j + kPrefetchAhead] * d, d);
            }
            std::copy_n(k_head + list[j] * d, d, local.k.data() + j * d);
            std::copy_n(v_head + list[j] * d, d, local.v.data() + j * d);
          }
          const KeyRange all{0, n, false};
          const RowBlock block{.q = in.q.row(b, h, i),
                               .q_stride = d,
                               .rows = 1,
                               .first_query = 0,
                               .k = local.k.data(),
                               .v = local.v.data(),
                               .kv_stride = d,
                               .ranges = {&all, 1},
                               .out = o,
                               .out_stride = d,
                               .few_rows = true};
          attend_rows(block, in.scale, {}, local.workspace);
        }
      });
}

std::int64_t gathered_attention_workspace_bytes(const AttentionShape& shape, int threads,
                                                std::int64_t max_keys) {
  // Per worker: the kernel's workspace and up to twice the longest list of K and V rows.
  return threads * (EngineWorkspace::bytes(shape.head_dim) +
                    2 * 2 * std::min(max_keys, shape.seq_len) * shape.head_dim * 4 + 256);
}

}  // namespace attn
