// The bf16 pair kernels (the layout of VDPBF16PS) against fp64 on the bf16 values they hold: the
// split-FMA dot product on every CPU, VDPBF16PS itself where this CPU has it. Row counts across
// the register blocking, odd key counts (the last pair's second key is zero), head dims of one
// to several vectors, and padding that must not leak in.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "attention/numeric/bf16_pairs.hpp"
#include "attention/numeric/dtype.hpp"
#include "attention/numeric/microkernel.hpp"

namespace attn {
namespace {

std::size_t size(std::int64_t n) { return static_cast<std::size_t>(n); }

std::vector<kernel::Bf16Dot> pair_dots() {
  std::vector<kernel::Bf16Dot> dots{kernel::Bf16Dot::kPairs};
  if (kernel::can_run(kernel::Bf16Dot::kVdpbf16ps)) dots.push_back(kernel::Bf16Dot::kVdpbf16ps);
  if (kernel::can_run(kernel::Bf16Dot::kAmx)) dots.push_back(kernel::Bf16Dot::kAmx);
  return dots;
}

TEST(Bf16Pairs, ScoresEqualFp64) {
  const std::int64_t lanes = kernel::float_lanes(), granularity = kernel::row_granularity();
  std::mt19937 rng(21);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (const kernel::Bf16Dot dot : pair_dots())
    for (std::int64_t d : {std::int64_t{2}, 2 * lanes, std::int64_t{64}, std::int64_t{128}})
      for (std::int64_t rows : {std::int64_t{1}, granularity - 1, granularity, granularity + 3})
        for (std::int64_t cols : {1, 5, 7, 8, 13, 128}) {
          const std::int64_t padded_rows = (rows + granularity - 1) / granularity * granularity;
          const std::int64_t ld_q = padded_rows + 8, ld_s = padded_rows + 4, stride = d + 6;
          std::vector<float> q(size(rows * d));
          for (float& x : q) x = round_to_bf16(uniform(rng));
          std::vector<float> k(size(cols * stride));
          for (float& x : k) x = uniform(rng);
          std::vector<bf16> k16(k.size());
          convert_to_bf16(k, k16);
          std::vector<std::uint32_t> q2(size(d / 2 * ld_q), 0xDEADBEEFu);
          kernel::pack_query_pairs(q.data(), d, rows, padded_rows, d, q2.data(), ld_q);
          const float multiplier = 0.3f;
          std::vector<float> s(size(cols * ld_s), -7.0f);
          kernel::score_tile_pairs(q2.data(), ld_q, padded_rows, k16.data(), stride, cols, d,
                                   multiplier, s.data(), ld_s, dot);
          for (std::int64_t c = 0; c < cols; ++c) {
            for (std::int64_t r = 0; r < padded_rows; ++r) {
              double want = 0;
              if (r < rows)
                for (std::int64_t e = 0; e < d; ++e)
                  want += double{q[r * d + e]} * to_float(k16[c * stride + e]);
              want *= multiplier;
              ASSERT_NEAR(s[c * ld_s + r], want, 1e-5 * (1 + std::abs(want)) * std::sqrt(d))
                  << bf16_dot_name(dot) << " D=" << d << " rows=" << rows << " cols=" << cols
                  << " c=" << c << " r=" << r;
            }
            for (std::int64_t r = padded_rows; r < ld_s; ++r)
              ASSERT_EQ(s[c * ld_s + r], -7.0f) << "wrote past padded_rows";
          }
        }
}

TEST(Bf16Pairs, AccumulatesEqualFp64) {
  const std::int64_t lanes = kernel::float_lanes();
  std::mt19937 rng(22);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (const kernel::Bf16Dot dot : pair_dots())
    for (std::int64_t d : {lanes, 2 * lanes, 3 * lanes, std::int64_t{64}, std::int64_t{128}})
      for (std::int64_t rows : {1, 5, 6, 8, 9, 17, 64})
        for (std::int64_t cols : {1, 2, 3, 7, 128}) {
          const std::int64_t padded_rows = (rows + lanes - 1) / lanes * lanes;
          const std::int64_t ld_s = 64 + lanes, ld_p = ld_s + 4, stride = d + 10, ld_v = d + 2;
          std::vector<float> p(size(cols * ld_s));
          for (float& x : p) x = uniform(rng) + 1.0f;
          std::vector<float> v(size(cols * stride));
          for (float& x : v) x = uniform(rng);
          std::vector<bf16> v16(v.size());
          convert_to_bf16(v, v16);
          std::vector<float> acc0(size(rows * d)), correction(size(rows));
          for (float& x : acc0) x = uniform(rng);
          for (float& x : correction) x = uniform(rng) + 1.0f;
          std::vector<std::uint32_t> p2(size((cols + 1) / 2 * ld_p)),
              v2(size((cols + 1) / 2 * ld_v));
          kernel::pack_probability_pairs(p.data(), ld_s, cols, padded_rows, p2.data(), ld_p);
          kernel::interleave_key_pairs(v16.data(), stride, cols, d, v2.data(), ld_v);
          std::vector<float> acc = acc0;
          kernel::accumulate_tile_pairs(p2.data(), ld_p, rows, cols, correction.data(), v2.data(),
                                        ld_v, d, acc.data(), d, dot);
          for (std::int64_t r = 0; r < rows; ++r)
            for (std::int64_t e = 0; e < d; ++e) {
              // P enters as bf16 (rounded to nearest even), V as the bf16 cache holds it.
              double want = double{acc0[r * d + e]} * correction[r];
              for (std::int64_t c = 0; c < cols; ++c)
                want += double{round_to_bf16(p[c * ld_s + r])} * to_float(v16[c * stride + e]);
              ASSERT_NEAR(acc[r * d + e], want, 1e-5 * (1 + std::abs(want)))
                  << bf16_dot_name(dot) << " D=" << d << " rows=" << rows << " cols=" << cols
                  << " r=" << r << " e=" << e;
            }
        }
}

// The split FMAs are VDPBF16PS's arithmetic as Intel's manual states it: per pair the odd
// product first, then the even one, each product exact and each add rounded. With Q = (1, 0, -1,
// 2^-24) and K all ones, odd first sums 0 + 1 = 1, 1 + 2^-24 = 1 (a tie, to even), 1 - 1 = 0;
// even first would end at 2^-24. And the even dimension sits in a pair's low half.
TEST(Bf16Pairs, SplitDotAddsTheOddProductFirst) {
  const std::int64_t granularity = kernel::row_granularity();
  const std::vector<float> q = {1.0f, 0.0f, -1.0f, 0x1p-24f};
  std::vector<bf16> k16(4);
  convert_to_bf16(std::vector<float>{1.0f, 1.0f, 1.0f, 1.0f}, k16);
  std::vector<std::uint32_t> q2(size(2 * granularity));
  kernel::pack_query_pairs(q.data(), 4, 1, granularity, 4, q2.data(), granularity);
  EXPECT_EQ(q2[0], 0x00003F80u) << "(1, 0): the even dimension in the low half";
  std::vector<float> s(size(granularity));
  kernel::score_tile_pairs(q2.data(), granularity, granularity, k16.data(), 4, 1, 4, 1.0f, s.data(),
                           granularity, kernel::Bf16Dot::kPairs);
  EXPECT_EQ(s[0], 0.0f);
}

TEST(Bf16Pairs, ChoiceIsOneThisCpuCanRun) {
  EXPECT_TRUE(kernel::can_run(kernel::bf16_dot()));
  EXPECT_TRUE(kernel::can_run(kernel::Bf16Dot::kWidening));
  EXPECT_TRUE(kernel::can_run(kernel::Bf16Dot::kPairs));
  const std::string bf16_path = kernel::path_name(Dtype::kBf16);
  if (kernel::bf16_dot() == kernel::Bf16Dot::kWidening)
    EXPECT_EQ(bf16_path, kernel::path_name(Dtype::kFp32));
  else
    EXPECT_EQ(bf16_path, kernel::path_name(Dtype::kFp32) + "+" +
                             std::string(bf16_dot_name(kernel::bf16_dot())));
}

}  // namespace
}  // namespace attn
