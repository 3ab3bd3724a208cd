// bf16 rounding: round to nearest, ties to even, in the scalar conversion the inputs use and in
// the engine's vector rounding of the probabilities, and the dtype names the options accept.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include "attention/core/tensor.hpp"
#include "attention/numeric/dtype.hpp"
#include "attention/numeric/microkernel.hpp"

namespace attn {
namespace {

float from_bits(std::uint32_t bits) { return std::bit_cast<float>(bits); }

// (fp32 bits, the bf16 bits it must round to). bf16 keeps the upper 16 bits; the lower 16 decide.
struct Case {
  std::uint32_t in;
  std::uint16_t out;
};
const std::vector<Case>& rounding_cases() {
  static const std::vector<Case> cases = {
      {0x3F80'8000u, 0x3F80},  // 1 + 2^-8: a tie, the even neighbour (down)
      {0x3F81'8000u, 0x3F82},  // 1 + 3·2^-8: a tie, the even neighbour (up)
      {0xBF80'8000u, 0xBF80},  // negative ties go to even as well
      {0xBF81'8000u, 0xBF82},
      {0x3F80'8001u, 0x3F81},  // just above a tie: up
      {0x3F81'7FFFu, 0x3F81},  // just below a tie: down
      {0x3F80'7FFFu, 0x3F80},
      {0x0000'8000u, 0x0000},  // a tie among denormals
      {0x0001'8000u, 0x0002},
      {0x7F7F'8000u, 0x7F80},  // halfway above the largest finite bf16: rounds to infinity
      {0x7F7F'7FFFu, 0x7F7F},
      {0x7F80'0000u, 0x7F80},  // infinity stays infinite
      {0x3F80'0000u, 0x3F80},  // exact values are unchanged
  };
  return cases;
}

TEST(Bf16Rounding, RoundsToNearestWithTiesToEven) {
  for (const Case& c : rounding_cases())
    EXPECT_EQ(to_bf16(from_bits(c.in)).bits, c.out) << std::hex << "input 0x" << c.in;
}

TEST(Bf16Rounding, NaNStaysNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(round_to_bf16(nan)));
  // A NaN whose payload sits only in the dropped bits must not become infinity.
  EXPECT_TRUE(std::isnan(round_to_bf16(from_bits(0x7F80'0001u))));
}

TEST(Bf16Rounding, WideningIsExact) {
  for (const Case& c : rounding_cases()) {
    const bf16 b{c.out};
    EXPECT_EQ(std::bit_cast<std::uint32_t>(to_float(b)), std::uint32_t{c.out} << 16);
  }
}

// The engine rounds probabilities (finite, non-negative) with integer vector arithmetic; it must
// agree with the scalar conversion bit for bit, ties included.
TEST(Bf16Rounding, TheEngineRoundsProbabilitiesLikeTheScalarConversion) {
  const std::int64_t lanes = kernel::float_lanes(), cols = 3, ld = 4 * lanes;
  AlignedBuffer<float> tile(static_cast<std::size_t>(cols * ld));
  std::vector<float> expected(tile.size());
  std::uint32_t bits = 0x3F80'8000u;
  for (std::size_t i = 0; i < tile.size(); ++i) {
    // Ties, neighbours of ties and ordinary values in [0, 2).
    const std::uint32_t in = (i % 3 == 0) ? bits : bits + static_cast<std::uint32_t>(i % 3) - 2;
    tile[i] = from_bits(in);
    expected[i] = round_to_bf16(tile[i]);
    bits += 0x0001'0000u;
  }
  kernel::round_tile_to_bf16(tile.data(), ld, cols, ld);
  for (std::size_t i = 0; i < tile.size(); ++i)
    EXPECT_EQ(std::bit_cast<std::uint32_t>(tile[i]), std::bit_cast<std::uint32_t>(expected[i]))
        << "element " << i;
}

TEST(Bf16Tensor, HoldsTheRoundedValues) {
  Tensor t(Shape{1, 1, 2, 3});
  const float values[6] = {1.0f,    from_bits(0x3F80'8000u), from_bits(0x3F81'8000u), -2.5f, 1e-3f,
                           3.14159f};
  for (int i = 0; i < 6; ++i) t.data()[i] = values[i];
  const Bf16Tensor b(t);
  ASSERT_EQ(b.data().size(), 6u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(b.data()[i], to_bf16(values[i])) << i;
  std::vector<float> widened(6);
  kernel::widen_bf16(b.data().data(), 6, widened.data());
  for (int i = 0; i < 6; ++i) EXPECT_EQ(widened[i], round_to_bf16(values[i])) << i;
}

TEST(DtypeNames, RoundTripAndRefuseOthers) {
  for (const Dtype d : all_dtypes()) EXPECT_EQ(parse_dtype(dtype_name(d)), d);
  try {
    parse_dtype("fp16");
    FAIL() << "accepted fp16";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'fp16'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("fp32, bf16"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace attn
