#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "attention/core/variant.hpp"
#include "harness/io/result_row.hpp"
#include "harness/measure/timing.hpp"

namespace attn::harness {

// One measurement point: everything but the variant. The shape's query heads, kv heads,
// queries M and keys N are those of AttentionShape; square (M = N, kv_heads = heads) unless the
// options say otherwise.
struct Point {
  AttentionShape shape{1, 8, 4096, 64};
  bool causal = false;
  bool shared_qk = false;
  std::string input = "gaussian";  // a generator name or npy:DIR
  std::uint64_t seed = 0;
  std::optional<float> scale;  // default 1/sqrt(head_dim)
  int threads = 1;
  // > 0: a decode session of this many steps after loading seq_len cached tokens (session.hpp);
  // the shape is then a step's, query_len 1.
  std::int64_t decode_steps = 0;

  float effective_scale() const { return scale ? *scale : default_scale(shape.head_dim); }
  std::string to_string() const;  // for progress lines and messages
};

struct MeasureOptions {
  TimingOptions timing;
  std::int64_t accuracy_rows = 256;     // sampled query rows per (batch, head)
  std::int64_t memory_limit_bytes = 0;  // 0: no limit
  std::string save_output_dir;          // non-empty: write the first variant's output there
};

// Bytes a point needs besides the variant's workspace: Q and the output (B·H·M·D floats each),
// K and V (B·kv_heads·N·D floats each). It is also the compulsory memory traffic of one forward,
// every input read once and the output written once: the CSV's min_bytes. Throws
// std::overflow_error when it does not fit in 64 bits.
std::int64_t point_tensor_bytes(const AttentionShape& shape);
// K and V alone: the KV cache, what grows with N at decode.
std::int64_t kv_cache_bytes(const AttentionShape& shape);

// The row's identifying fields (the point and the variant, as --resume and compare key them)
// and the machine context; no results.
ResultRow point_row(const Point& point, const Variant& variant);

// Measures each variant at the point and hands every row to `emit` as soon as it is complete:
// inputs and the fp64 reference sample are built once and shared. A variant that would not fit
// in the memory limit gets a "skipped" row, one that fails an "error" row; the others go on.
// `before` is called as each variant starts. After an interrupt (interrupt.hpp) it returns
// early: the variant in progress is abandoned without a row, the rest are not started.
void measure_point(const Point& point, const std::vector<const Variant*>& variants,
                   const MeasureOptions& options, const std::function<void(const ResultRow&)>& emit,
                   const std::function<void(const Variant&)>& before = {});

}  // namespace attn::harness
