#include <gtest/gtest.h>

#include <vector>

#include "attention/core/registry.hpp"
#include "harness/measure/measure.hpp"
#include "harness/measure/memory_counter.hpp"

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

// Q and the output are B·H·M·D floats, K and V B·kv·N·D each: at decode the KV cache is all but
// all of it. B=1, 32 query heads over 8 kv heads, D=128, N=1M: 8 GiB for K and V.
TEST(PointBytes, CountQueriesAndKvCacheSeparately) {
  const AttentionShape decode{1, 32, 8, 1, 1 << 20, 128};
  EXPECT_EQ(kv_cache_bytes(decode), std::int64_t{8} << 30);
  EXPECT_EQ(point_tensor_bytes(decode), (std::int64_t{8} << 30) + 2 * 32 * 128 * 4);
  // Square, as in round 1: four tensors of B·H·N·D floats.
  const AttentionShape square{2, 8, 4096, 64};
  EXPECT_EQ(point_tensor_bytes(square), 4 * 2 * 8 * 4096 * 64 * 4);
  EXPECT_EQ(kv_cache_bytes(square), 2 * 2 * 8 * 4096 * 64 * 4);
  // Elements beyond 64 bits, and elements that fit but not their bytes.
  EXPECT_THROW(point_tensor_bytes(AttentionShape{1 << 20, 1 << 20, 1 << 20, 1, 1 << 26, 512}),
               std::overflow_error);
  EXPECT_THROW(point_tensor_bytes(AttentionShape{1, 1, 1, 1, std::int64_t{1} << 51, 512}),
               std::overflow_error);
}

// bf16 inputs are half the bytes: Q, K and V at 2 bytes, the fp32 output at 4.
TEST(PointBytes, Bf16HalvesTheInputs) {
  AttentionShape decode{1, 32, 8, 1, 1 << 20, 128};
  decode.dtype = Dtype::kBf16;
  EXPECT_EQ(kv_cache_bytes(decode), std::int64_t{4} << 30);
  EXPECT_EQ(point_tensor_bytes(decode), (std::int64_t{4} << 30) + 32 * 128 * (2 + 4));
}

// The workspace a bf16 forward predicts is the one it allocates: the engine's widened tiles, and
// for textbook dense its scores and probabilities.
TEST(MeasuredMemory, Bf16PredictedBytesMatchThePeak) {
  std::vector<std::unique_ptr<Variant>> owned;
  std::vector<const Variant*> variants;
  for (const char* spec : {"flash", "sliding_window", "bigbird", "lsh", "dense"}) {
    owned.push_back(make_variant(spec));
    variants.push_back(owned.back().get());
  }
  Point point;
  point.shape = {1, 4, 1024, 32};
  point.shape.dtype = Dtype::kBf16;
  point.threads = 2;
  MeasureOptions options;
  options.timing = {1, 0.001};
  options.accuracy_rows = 8;
  std::vector<ResultRow> rows;
  measure_point(point, variants, options, [&](const ResultRow& r) { rows.push_back(r); });
  ASSERT_EQ(rows.size(), variants.size());
  for (const ResultRow& r : rows) {
    ASSERT_EQ(r.status, kStatusOk) << r.variant << ": " << r.message;
    EXPECT_EQ(r.dtype, "bf16");
    EXPECT_FALSE(r.kernel.empty()) << r.variant;
    // The forward's scratch per worker is bounded by the prediction, up to bookkeeping (and
    // oneDNN's own scratchpad for dense).
    EXPECT_LE(static_cast<double>(*r.peak_bytes),
              static_cast<double>(*r.predicted_bytes) +
                  (r.variant == "dense" ? 4 << 20 : kBookkeepingBytes))
        << r.variant;
    // At least one worker's share: a fast forward can finish before the second worker takes a
    // task (seen under ASan once bf16 ran on AMX tiles).
    EXPECT_GE(static_cast<double>(*r.peak_bytes),
              static_cast<double>(*r.predicted_bytes) / point.threads - kBookkeepingBytes)
        << r.variant;
    EXPECT_EQ(*r.min_bytes, (4 * 1024 * 32) * (2 + 2 + 2 + 4)) << r.variant;
    ASSERT_TRUE(r.rel_err_kernel.has_value());
    EXPECT_LT(*r.rel_err_kernel, 0x1p-8) << r.variant;
  }
}

// The memory-limit skip counts what the point allocates: 4 query heads over 1 kv head, one
// query, N = 4096, D = 16 need 512 KiB for K and V and 512 bytes for Q and the output; the
// square point would need 4 MiB.
TEST(MeasuredMemory, TheMemoryLimitSkipCountsTheKvCache) {
  const auto flash = make_variant("flash");
  const std::vector<const Variant*> variants = {flash.get()};
  Point point;
  point.shape = {1, 4, 1, 1, 4096, 16};
  point.threads = 1;
  MeasureOptions options;
  options.timing = {1, 0.001};
  options.accuracy_rows = 8;
  const std::int64_t need = 512 * 1024 + 512;
  ASSERT_EQ(point_tensor_bytes(point.shape), need);
  std::vector<ResultRow> rows;
  auto measure_with = [&](std::int64_t limit) {
    options.memory_limit_bytes = limit;
    rows.clear();
    measure_point(point, variants, options, [&](const ResultRow& r) { rows.push_back(r); });
    EXPECT_EQ(rows.size(), 1u);
    return rows.empty() ? ResultRow{} : rows[0];
  };
  const ResultRow over = measure_with(need - 1);
  EXPECT_EQ(over.status, kStatusSkipped);
  EXPECT_NE(over.message.find("Q, K, V and the output need"), std::string::npos) << over.message;
  EXPECT_NE(over.message.find("(K and V 0.00 GiB)"), std::string::npos) << over.message;
  EXPECT_EQ(over.min_bytes, need);
  EXPECT_EQ(over.query_len, 1);
  EXPECT_EQ(over.kv_heads, 1);
  // With room for the tensors and the workspace the point runs, though the square one would not
  // fit (4 MiB).
  const ResultRow fits = measure_with(need + 256 * 1024);
  EXPECT_EQ(fits.status, kStatusOk) << fits.message;
  EXPECT_EQ(fits.min_bytes, need);
  EXPECT_EQ(fits.pairs, 4 * 4096);
}

}  // namespace
}  // namespace attn::harness
