#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "attention/numeric/softmax.hpp"

namespace attn {
namespace {

TEST(Softmax, MatchesTheDefinitionAndSumsToOne) {
  const std::int64_t cols = 37;  // not a multiple of any vector width
  std::vector<float> row(cols);
  for (std::int64_t c = 0; c < cols; ++c) row[c] = std::sin(0.7f * static_cast<float>(c)) * 9.0f;
  std::vector<double> want(cols);
  double max_value = -1e30, sum = 0;
  for (float x : row) max_value = std::max(max_value, double(x));
  for (std::int64_t c = 0; c < cols; ++c) sum += want[c] = std::exp(double(row[c]) - max_value);
  softmax_rows(row.data(), 1, cols, cols);
  double total = 0;
  for (std::int64_t c = 0; c < cols; ++c) {
    EXPECT_NEAR(row[c], want[c] / sum, 1e-6) << c;
    total += row[c];
  }
  EXPECT_NEAR(total, 1.0, 1e-5);
}

TEST(Softmax, MaskedEntriesGetExactlyZeroAndAllMaskedRowsAreZero) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> rows = {1.0f, -inf, 2.0f, -inf, -inf, -inf, -inf, -inf};
  softmax_rows(rows.data(), 2, 4, 4);
  EXPECT_EQ(rows[1], 0.0f);
  EXPECT_NEAR(rows[0] + rows[2], 1.0f, 1e-6);
  for (int c = 4; c < 8; ++c) EXPECT_EQ(rows[c], 0.0f);
}

TEST(Softmax, LargeScoresDoNotOverflow) {
  std::vector<float> row = {1000.0f, 999.0f, -1000.0f};
  softmax_rows(row.data(), 1, 3, 3);
  EXPECT_NEAR(row[0], 1.0 / (1.0 + std::exp(-1.0)), 1e-6);
  EXPECT_EQ(row[2], 0.0f);
}

}  // namespace
}  // namespace attn
