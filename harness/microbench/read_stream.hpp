#pragma once

#include <cstddef>

#include <hwy/highway.h>

namespace attn::micro {

// Sums n floats with eight independent vector accumulators: a pure sequential read, the access
// pattern of decode over a KV cache, so its rate is decode's ceiling on this machine.
inline float sum_stream(const float* data, std::size_t n) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<float> df;
  const std::size_t lanes = hn::Lanes(df);
  hn::Vec<decltype(df)> acc[8];
  for (auto& x : acc) x = hn::Zero(df);
  std::size_t i = 0;
  for (; i + 8 * lanes <= n; i += 8 * lanes)
    for (std::size_t j = 0; j < 8; ++j)
      acc[j] = hn::Add(acc[j], hn::LoadU(df, data + i + j * lanes));
  for (std::size_t j = 1; j < 8; ++j) acc[0] = hn::Add(acc[0], acc[j]);
  float sum = hn::GetLane(hn::SumOfLanes(df, acc[0]));
  for (; i < n; ++i) sum += data[i];
  return sum;
}

}  // namespace attn::micro
