#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "attention/variant.hpp"
#include "harness/result_row.hpp"
#include "harness/timing.hpp"

namespace attn::harness {

// One measurement point: everything but the variant.
struct Point {
  Shape shape{1, 8, 4096, 64};
  bool causal = false;
  bool shared_qk = false;
  std::string input = "gaussian";  // a generator name or npy:DIR
  std::uint64_t seed = 0;
  std::optional<float> scale;  // default 1/sqrt(head_dim)
  int threads = 1;

  float effective_scale() const { return scale ? *scale : default_scale(shape.head_dim); }
  std::string to_string() const;  // for progress lines and messages
};

struct MeasureOptions {
  TimingOptions timing;
  std::int64_t accuracy_rows = 256;     // sampled query rows per (batch, head)
  std::int64_t memory_limit_bytes = 0;  // 0: no limit
  std::string save_output_dir;          // non-empty: write the first variant's output there
};

// Bytes a point needs besides the variant's workspace: Q, K, V and the output.
std::int64_t point_tensor_bytes(const Shape& shape);

// Measures each variant at the point and hands every row to `emit` as soon as it is complete:
// inputs and the fp64 reference sample are built once and shared. A variant that would not fit
// in the memory limit gets a "skipped" row, one that fails an "error" row; the others go on.
// `before` is called as each variant starts. After an interrupt (interrupt.hpp) it returns
// early: the variant in progress is abandoned without a row, the rest are not started.
void measure_point(const Point& point, const std::vector<const Variant*>& variants,
                   const MeasureOptions& options, const std::function<void(const ResultRow&)>& emit,
                   const std::function<void(const Variant&)>& before = {});

}  // namespace attn::harness
