#include "attention/bases/gathered_attention.hpp"

#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "attention/engine/block_engine.hpp"
#include "attention/numeric/microkernel.hpp"

namespace attn {
namespace {

// Rows gathered this far ahead are prefetched: the gathers are latency-bound random row reads.
constexpr std::int64_t kPrefetchAhead = 8;

// Gathered rows kept by a worker between calls up to this many bytes (K and V together).
constexpr std::int64_t kKeptGatherBytes = std::int64_t{32} << 20;

struct GatherScratch {
  explicit GatherScratch(std::int64_t d)
      : head_dim(d),
        workspace(d),
        q(static_cast<std::size_t>(kernel::kFewRows * d)),
        out(q.size()) {}
  std::int64_t head_dim;
  EngineWorkspace workspace;
  AlignedBuffer<float> k, v;
  std::int64_t capacity = 0;    // rows k and v hold
  AlignedBuffer<float> q, out;  // a kv group's queries, stacked, and their outputs
};

// The calling worker's scratch, kept between calls: a decode step gathers a few thousand rows,
// and into fresh buffers most of its time went to faulting in their pages (AMD EPYC Zen 3,
// snapkv:budget=2048 at N=16K, 32/8 heads, D=128: 3.4 -> 1.1 ms per step).
GatherScratch& worker_scratch(std::int64_t head_dim) {
  thread_local std::unique_ptr<GatherScratch> scratch;
  if (!scratch || scratch->head_dim != head_dim)
    scratch = std::make_unique<GatherScratch>(head_dim);
  return *scratch;
}

// Releases rows beyond what a worker keeps, so one long list does not hold its memory for the
// rest of a sweep.
void trim(GatherScratch& local) {
  if (2 * local.capacity * local.head_dim * 4 <= kKeptGatherBytes) return;
  local.k = AlignedBuffer<float>();
  local.v = AlignedBuffer<float>();
  local.capacity = 0;
}

// One kv head's K or V rows as a gather reads them: fp32, or a quantized cache's codes, which
// are dequantized as they are copied (a quarter of the bytes read at random).
struct HeadRows {
  const float* values = nullptr;
  QuantizedRows codes{};

  void prefetch(std::int64_t row, std::int64_t d) const {
    const char* start = codes.codes ? reinterpret_cast<const char*>(codes.codes + row * d)
                                    : reinterpret_cast<const char*>(values + row * d);
    const std::int64_t bytes = codes.codes ? d : 4 * d;
    for (std::int64_t offset = 0; offset < bytes; offset += 64)
      __builtin_prefetch(start + offset, 0, 3);
  }
  void copy(std::int64_t row, std::int64_t d, float* dst) const {
    if (codes.codes)
      dequantize_rows(codes.from_row(row), 1, d, d, dst, d);
    else
      std::copy_n(values + row * d, d, dst);
  }
};

HeadRows k_rows(const AttentionInputs& in, std::int64_t b, std::int64_t kv) {
  return {in.k.head(b, kv), in.quantized_cache() ? in.kq.head(b, kv) : QuantizedRows{}};
}
HeadRows v_rows(const AttentionInputs& in, std::int64_t b, std::int64_t kv) {
  return {in.v.head(b, kv), in.quantized_cache() ? in.vq.head(b, kv) : QuantizedRows{}};
}

// Copies rows list[0..n) of K and V of one kv head into the scratch.
void gather(const HeadRows& k_head, const HeadRows& v_head, const std::int32_t* list,
            std::int64_t n, std::int64_t d, std::int64_t max_rows, GatherScratch& local) {
  if (n > local.capacity) {
    local.capacity = std::max(n, std::min(2 * local.capacity, max_rows));
    local.k = AlignedBuffer<float>(static_cast<std::size_t>(local.capacity * d));
    local.v = AlignedBuffer<float>(static_cast<std::size_t>(local.capacity * d));
  }
  for (std::int64_t j = 0; j < n; ++j) {
    if (j + kPrefetchAhead < n) {
      k_head.prefetch(list[j + kPrefetchAhead], d);
      v_head.prefetch(list[j + kPrefetchAhead], d);
    }
    k_head.copy(list[j], d, local.k.data() + j * d);
    v_head.copy(list[j], d, local.v.data() + j * d);
  }
}

// Attends `rows` query rows (q, d apart) over the n gathered keys into out (d apart).
void attend_gathered(const float* q, std::int64_t rows, std::int64_t n, std::int64_t d, float scale,
                     float* out, GatherScratch& local) {
  const KeyRange all{0, n, false};
  const RowBlock block{.q = q,
                       .q_stride = d,
                       .rows = rows,
                       .first_query = 0,
                       .k = local.k.data(),
                       .v = local.v.data(),
                       .kv_stride = d,
                       .ranges = {&all, 1},
                       .out = out,
                       .out_stride = d,
                       .few_rows = true};
  attend_rows(block, scale, {}, local.workspace);
}

// Whether query row i of every head of kv group (b, kv) chose the same keys: an eviction cache
// is one per kv head, and its heads then share one gather.
bool group_shares_keys(const KeyListSelection& selection, const AttentionShape& s, std::int64_t b,
                       std::int64_t kv, std::int64_t i) {
  const std::int64_t h0 = kv * s.group();
  const auto [first, n] = selection.row(b, h0, i);
  for (std::int64_t h = h0 + 1; h < h0 + s.group(); ++h) {
    const auto [list, count] = selection.row(b, h, i);
    if (count != n || !std::equal(list, list + n, first)) return false;
  }
  return true;
}

}  // namespace

void gathered_attention(const AttentionInputs& in, const KeyListSelection& selection,
                        MutableTensorView out) {
  check_inputs(in, out);
  const AttentionShape s = in.shape();
  const std::int64_t d = s.head_dim, m = s.query_len, g = s.group();
  // One item per kv group and query row: the group's heads share the gather when they chose
  // alike (and fit one call of the few-rows kernel), else each head gathers its own.
  tbb::parallel_for(
      tbb::blocked_range<std::int64_t>(0, s.batch * s.kv_heads * m), [&](const auto& range) {
        GatherScratch& local = worker_scratch(d);
        for (std::int64_t item = range.begin(); item < range.end(); ++item) {
          const std::int64_t b = item / (s.kv_heads * m), kv = item / m % s.kv_heads, i = item % m,
                             h0 = kv * g;
          const HeadRows k_head = k_rows(in, b, kv), v_head = v_rows(in, b, kv);
          if (g > 1 && g <= kernel::kFewRows && group_shares_keys(selection, s, b, kv, i)) {
            const auto [list, n] = selection.row(b, h0, i);
            if (n == 0) {
              for (std::int64_t h = h0; h < h0 + g; ++h) std::fill_n(out.row(b, h, i), d, 0.0f);
              continue;
            }
            gather(k_head, v_head, list, n, d, s.seq_len, local);
            for (std::int64_t h = h0; h < h0 + g; ++h)
              std::copy_n(in.q.row(b, h, i), d, local.q.data() + (h - h0) * d);
            attend_gathered(local.q.data(), g, n, d, in.scale, local.out.data(), local);
            for (std::int64_t h = h0; h < h0 + g; ++h)
              std::copy_n(local.out.data() + (h - h0) * d, d, out.row(b, h, i));
            continue;
          }
          for (std::int64_t h = h0; h < h0 + g; ++h) {
            const auto [list, n] = selection.row(b, h, i);
            float* o = out.row(b, h, i);
            if (n == 0) {
              std::fill_n(o, d, 0.0f);
              continue;
            }
            gather(k_head, v_head, list, n, d, s.seq_len, local);
            attend_gathered(in.q.row(b, h, i), 1, n, d, in.scale, o, local);
          }
        }
        trim(local);
      });
}

std::int64_t gathered_attention_workspace_bytes(const AttentionShape& shape, int threads,
                                                std::int64_t max_keys) {
  // Per worker: the kernel's workspace and up to twice the longest list of K and V rows.
  return threads * (EngineWorkspace::bytes(shape.head_dim) +
                    2 * 2 * std::min(max_keys, shape.seq_len) * shape.head_dim * 4 + 256);
}

}  // namespace attn

namespace attn {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
// Queries gathered into one call of attend_rows.
constexpr std::int64_t kGatherRows = 64;

struct QueryScratch {
  QueryScratch(std::int64_t head_dim, KvQuantization kv)
      : workspace(head_dim, Dtype::kFp32, kv),
        q(static_cast<std::size_t>(kGatherRows * head_dim)),
        out(q.size()),
        log_sum_exp(static_cast<std::size_t>(kGatherRows)) {}
  EngineWorkspace workspace;
  AlignedBuffer<float> q, out, log_sum_exp;
  std::vector<std::int64_t> positions;
};

}  // namespace

void attend_gathered_queries(const AttentionInputs& in, const KeyBlockPattern& pattern,
                             MutableTensorView out) {
  check_inputs(in, out);
  const AttentionShape s = in.shape();
  const std::int64_t d = s.head_dim, m = s.query_len, n = s.seq_len;
  const std::int64_t slots = pattern.slots(), block = pattern.key_block();
  const std::int64_t key_blocks = (n + block - 1) / block;
  tbb::enumerable_thread_specific<QueryScratch> scratch(d, in.kq.format);
  // One (batch, head) at a time: its parts are M · slots rows of D floats.
  AlignedBuffer<float> parts(static_cast<std::size_t>(m * slots * d));
  AlignedBuffer<float> part_lse(static_cast<std::size_t>(m * slots));
  std::vector<std::int64_t> offsets(static_cast<std::size_t>(key_blocks + 1));
  std::vector<std::int32_t> members(static_cast<std::size_t>(m * slots));  // query · slots + slot
  for (std::int64_t b = 0; b < s.batch; ++b)
    for (std::int64_t h = 0; h < s.heads; ++h) {
      // The queries of every key block, in query order (a counting sort by block).
      std::fill(offsets.begin(), offsets.end(), 0);
      std::fill_n(part_lse.data(), m * slots, kNegInf);
      for (std::int64_t i = 0; i < m; ++i) {
        const std::int32_t* list = pattern.blocks(b, h, pattern.group_of(s.position(i)));
        for (std::int64_t slot = 0; slot < slots && list[slot] >= 0; ++slot)
          ++offsets[static_cast<std::size_t>(list[slot] + 1)];
      }
      for (std::int64_t c = 0; c < key_blocks; ++c)
        offsets[static_cast<std::size_t>(c + 1)] += offsets[static_cast<std::size_t>(c)];
      std::vector<std::int64_t> fill(offsets.begin(), offsets.end() - 1);
      for (std::int64_t i = 0; i < m; ++i) {
        const std::int32_t* list = pattern.blocks(b, h, pattern.group_of(s.position(i)));
        for (std::int64_t slot = 0; slot < slots && list[slot] >= 0; ++slot)
          members[static_cast<std::size_t>(fill[static_cast<std::size_t>(list[slot])]++)] =
              static_cast<std::int32_t>(i * slots + slot);
      }
      const float* k_head = in.k_head(b, h);
      const float* v_head = in.v_head(b, h);
      // Items: (key block, tile of its queries).
      std::vector<std::pair<std::int64_t, std::int64_t>> items;
      for (std::int64_t c = 0; c < key_blocks; ++c)
        for (std::int64_t t = offsets[static_cast<std::size_t>(c)];
             t < offsets[static_cast<std::size_t>(c + 1)]; t += kGatherRows)
          items.emplace_back(c, t);
      tbb::parallel_for(std::size_t{0}, items.size(), [&](std::size_t item) {
        const auto [c, first] = items[item];
        const std::int64_t rows =
            std::min(kGatherRows, offsets[static_cast<std::size_t>(c + 1)] - first);
        QueryScratch& local = scratch.local();
        local.positions.resize(static_cast<std::size_t>(rows));
        for (std::int64_t r = 0; r < rows; ++r) {
          const std::int64_t query = members[static_cast<std::size_t>(first + r)] / slots;
          std::copy_n(in.q.row(b, h, query), d, local.q.data() + r * d);
          local.positions[static_cast<std::size_t>(r)] = s.position(query);
        }
        const std::int64_t k_begin = c * block, k_end = std::min(n, k_begin + block);
        // Causal: a query before the block's last key is masked to keys up to itself.
        bool masked = false;
        if (pattern.causal())
          for (std::int64_t p : local.positions) masked = masked || p < k_end - 1;
        const KeyRange range{k_begin, k_end, masked};
        const auto mask = [&](std::int64_t q_begin, std::int64_t q_end, std::int64_t k0,
                              std::int64_t k1, float* scores, std::int64_t ld) {
          for (std::int64_t r = q_begin; r < q_end; ++r) {
            const std::int64_t p = local.positions[static_cast<std::size_t>(r)];
            float* row = scores + (r - q_begin) * ld;
            for (std::int64_t k = std::max(k0, p + 1); k < k1; ++k) row[k - k0] = kNegInf;
          }
        };
        const RowBlock rb{.q = local.q.data(),
                          .q_stride = d,
                          .rows = rows,
                          .first_query = 0,
                          .k = k_head,
                          .v = v_head,
                          .kv_stride = d,
                          .kq = in.quantized_cache() ? in.kq_head(b, h) : QuantizedRows{},
                          .vq = in.quantized_cache() ? in.vq_head(b, h) : QuantizedRows{},
                          .ranges = {&range, 1},
                          .out = local.out.data(),
                          .out_stride = d,
                          .log_sum_exp = local.log_sum_exp.data(),
                          .few_rows = rows <= 8};
        attend_rows(rb, in.scale, mask, local.workspace);
        for (std::int64_t r = 0; r < rows; ++r) {
          const std::int64_t part = members[static_cast<std::size_t>(first + r)];
          std::copy_n(local.out.data() + r * d, d, parts.data() + part * d);
          part_lse[static_cast<std::size_t>(part)] = local.log_sum_exp[static_cast<std::size_t>(r)];
        }
      });
      // Each query's parts cover disjoint keys: weights exp(lse - max) give softmax over all.
      tbb::parallel_for(std::int64_t{0}, m, [&](std::int64_t i) {
        float* dst = out.row(b, h, i);
        const float* lse = part_lse.data() + i * slots;
        float top = kNegInf;
        for (std::int64_t p = 0; p < slots; ++p) top = std::max(top, lse[p]);
        std::fill_n(dst, d, 0.0f);
        if (top == kNegInf) return;
        float total = 0;
        for (std::int64_t p = 0; p < slots; ++p) {
          if (lse[p] == kNegInf) continue;
          const float w = std::exp(lse[p] - top);
          total += w;
          const float* src = parts.data() + (i * slots + p) * d;
          for (std::int64_t e = 0; e < d; ++e) dst[e] += w * src[e];
        }
        const float inv = 1.0f / total;
        for (std::int64_t e = 0; e < d; ++e) dst[e] *= inv;
      });
    }
}

}  // namespace attn
