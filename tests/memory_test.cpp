#include <gtest/gtest.h>

#include <vector>

#include "attention/registry.hpp"
#include "harness/measure.hpp"
#include "harness/memory_counter.hpp"

namespace attn::harness {
namespace {

TEST(MemoryCounter, SeesAKnownAllocation) {
  reset_memory_peak();
  const MemorySnapshot before = memory_snapshot();
  {
    std::vector<char> block(10 << 20);
    const MemorySnapshot during = memory_snapshot();
    EXPECT_GE(during.current_bytes - before.current_bytes, 10 << 20);
  }
  const MemorySnapshot after = memory_snapshot();
  EXPECT_GE(after.peak_bytes - before.current_bytes, 10 << 20);
  EXPECT_LT(after.current_bytes - before.current_bytes, 1 << 20);
  EXPECT_GT(after.allocations, before.allocations);
}

TEST(MemoryCounter, CountsAlignedAllocations) {
  const MemorySnapshot before = memory_snapshot();
  AlignedBuffer<float> buffer(1 << 20);
  EXPECT_GE(memory_snapshot().current_bytes - before.current_bytes, 4 << 20);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(buffer.data()) % kTensorAlignment, 0u);
}

// The heap peak is taken on a point's warm-up call, where TBB may allocate a few KiB of
// per-worker bookkeeping depending on which threads joined; workspaces differ by far more.
constexpr double kBookkeepingBytes = 16 * 1024;

std::vector<ResultRow> measure(const std::vector<std::string>& specs, std::int64_t n, int threads) {
  std::vector<std::unique_ptr<Variant>> owned;
  std::vector<const Variant*> variants;
  for (const auto& s : specs) {
    owned.push_back(make_variant(s));
    variants.push_back(owned.back().get());
  }
  Point point;
  point.shape = {1, 4, n, 32};
  point.threads = threads;
  MeasureOptions options;
  options.timing = {1, 0.001};
  options.accuracy_rows = 8;
  std::vector<ResultRow> rows;
  measure_point(point, variants, options, [&](const ResultRow& r) { rows.push_back(r); });
  return rows;
}

TEST(MeasuredMemory, TextbookDenseHoldsOneScoreMatrixPerConcurrentHead) {
  const std::int64_t n = 1024;
  for (int threads : {1, 2}) {
    const auto rows = measure({"dense"}, n, threads);
    ASSERT_EQ(rows.size(), 1u);
    ASSERT_EQ(rows[0].status, kStatusOk) << rows[0].message;
    EXPECT_GE(*rows[0].peak_bytes, n * n * 4) << threads;
    EXPECT_LE(*rows[0].peak_bytes, threads * n * n * 4 + (1 << 20)) << threads;
    EXPECT_EQ(*rows[0].predicted_bytes, threads * n * n * 4);
  }
}

TEST(MeasuredMemory, DoesNotDependOnWhatRanBefore) {
  const auto alone = measure({"dense"}, 512, 1);
  const auto after_bigger = measure({"dense", "dense"}, 512, 1);  // second runs after first
  measure({"dense"}, 2048, 1);
  const auto after_big_point = measure({"dense"}, 512, 1);
  EXPECT_NEAR(static_cast<double>(*alone[0].peak_bytes),
              static_cast<double>(*after_bigger[1].peak_bytes), kBookkeepingBytes);
  EXPECT_NEAR(static_cast<double>(*alone[0].peak_bytes),
              static_cast<double>(*after_big_point[0].peak_bytes), kBookkeepingBytes);
  // The resident-set growth is a kernel figure: equal within a page-table's worth.
  EXPECT_NEAR(static_cast<double>(*alone[0].rss_delta_bytes),
              static_cast<double>(*after_big_point[0].rss_delta_bytes), 256 * 1024.0);
}

// The same variant instance at two inputs of one shape, as a sweep runs it: state it builds
// lazily (BigBird's random blocks) counts in both rows, as its prediction says, not only in
// the first point's.
TEST(MeasuredMemory, LazilyBuiltStateCountsAtEveryPoint) {
  const auto bigbird = make_variant("bigbird:block=16,random=8");
  const std::vector<const Variant*> variants = {bigbird.get()};
  MeasureOptions options;
  options.timing = {1, 0.001};
  options.accuracy_rows = 8;
  std::vector<ResultRow> rows;
  for (const char* input : {"gaussian", "local"}) {
    Point point;
    point.shape = {1, 2, 16384, 16};
    point.input = input;
    point.threads = 1;
    measure_point(point, variants, options, [&](const ResultRow& r) { rows.push_back(r); });
  }
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_EQ(rows[1].status, kStatusOk) << rows[1].message;
  // The random table is 64 KiB here; a few KiB of scheduler bookkeeping may differ.
  EXPECT_NEAR(static_cast<double>(*rows[0].peak_bytes), static_cast<double>(*rows[1].peak_bytes),
              kBookkeepingBytes);
  EXPECT_NEAR(static_cast<double>(*rows[1].peak_bytes),
              static_cast<double>(*rows[1].predicted_bytes), kBookkeepingBytes);
}

}  // namespace
}  // namespace attn::harness
