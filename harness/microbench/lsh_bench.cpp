// LSH attention stage by stage, B=1, H=8, D=64, 2 threads, the default lsh spec
// (hashes=4, chunk=64, lookback=1): hashing (the rotation GEMMs and argmax), sorting (the
// counting sorts), gathering (rows into the chunk buffers and the merge of each round's output
// back), chunk attention (the engine on gathered buffers) and the whole forward. The share of
// hashing + sorting + gathering is their sum over the total's time, read within one run. The
// last benchmark runs sliding_window with the window that gives the same pairs per query as
// lsh on these inputs, for the per-pair speed ratio within the same run; BM_LshStageShares
// times all of them back to back within each iteration and reports the ratios.
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "attention/bases/sorted_chunks.hpp"
#include "attention/core/registry.hpp"
#include "harness/measure/inputs.hpp"
#include "harness/microbench/micro_common.hpp"
#include "harness/microbench/random_rows.hpp"
#include "variants/lsh_stages.hpp"

namespace attn::micro {
namespace {

constexpr int kLshThreads = 2;
constexpr const char* kLshSpec = "lsh:hashes=4,chunk=64,buckets=0,lookback=1,seed=0";

// The inputs, the per-head buckets and the selection's orders of one shape, built once per
// benchmark.
struct LshSetup {
  static Shape shape_of(std::int64_t n) { return {1, 8, n, 64}; }

  explicit LshSetup(std::int64_t n)
      : shape(shape_of(n)),
        tensors(harness::make_inputs("gaussian", shape, 0)),
        inputs{tensors.q.view(), tensors.k.view(), tensors.v.view(), false,
               default_scale(shape.head_dim)},
        layout(lsh::Params{}, shape),
        selection(inputs.shape(), false, lsh::Params{}.hashes, lsh::Params{}.chunk,
                  lsh::Params{}.lookback, false),
        out(shape),
        running(static_cast<std::size_t>(2 * n)),
        pool(selection.layout()) {
    for (std::int64_t h = 0; h < shape.heads; ++h) {
      heads.emplace_back(layout);
      arena.execute([&] {
        lsh::hash_head(layout, inputs, 0, h, heads.back());
        lsh::sort_head(layout, heads.back(), selection.orders(0, h));
      });
    }
  }

  Shape shape;
  harness::InputTensors tensors;
  AttentionInputs inputs;
  lsh::Layout layout;
  SortedChunkSelection selection;
  Tensor out;
  std::vector<float> running;
  tbb::task_arena arena{kLshThreads};
  ChunkScratchPool pool;
  std::vector<lsh::HeadHashing> heads;
};

// Runs stage(setup, h) for every head.
template <class Stage>
void every_head(LshSetup& setup, const Stage& stage) {
  for (std::int64_t h = 0; h < setup.shape.heads; ++h) stage(setup, h);
}

template <class Stage>
void run_stage(benchmark::State& state, Stage stage, double bytes_per_run = 0) {
  LshSetup setup(state.range(0));
  for (auto _ : state) {
    setup.arena.execute([&] { every_head(setup, stage); });
    benchmark::ClobberMemory();
  }
  if (bytes_per_run > 0) report_bytes(state, bytes_per_run);
}

// The sliding_window spec with lsh's pairs per query on these inputs (left=254,right=254 here).
std::string same_pairs_window(const LshSetup& setup, std::int64_t lsh_pairs) {
  const std::int64_t per_query = lsh_pairs / (setup.shape.heads * setup.shape.seq_len);
  const std::int64_t left = (per_query - 1) / 2, right = per_query - 1 - left;
  return "sliding_window:left=" + std::to_string(left) + ",right=" + std::to_string(right);
}

// The stages of one head, as the variant runs them.
void hash_stage(LshSetup& s, std::int64_t h) {
  lsh::hash_head(s.layout, s.inputs, 0, h, s.heads[static_cast<std::size_t>(h)]);
}
void sort_stage(LshSetup& s, std::int64_t h) {
  lsh::sort_head(s.layout, s.heads[static_cast<std::size_t>(h)], s.selection.orders(0, h));
}
template <unsigned Stages>
void attend_stage(LshSetup& s, std::int64_t h) {
  attend_sorted_chunks(s.inputs, s.selection, 0, h, s.out.mutable_view(), s.running, s.pool,
                       Stages);
}

// The memory traffic of the gathering stage at N tokens: in every round each query's Q row and
// output row (read, then written back) and each key's K and V rows, at random. Chunk ids and
// the running state (24 bytes per vector) are left out.
double gathered_bytes(std::int64_t n) {
  const Shape shape = LshSetup::shape_of(n);
  return 5.0 * sizeof(float) *
         static_cast<double>(shape.heads * lsh::Params{}.hashes * n * shape.head_dim);
}

void BM_LshHashing(benchmark::State& state) { run_stage(state, hash_stage); }
void BM_LshSorting(benchmark::State& state) { run_stage(state, sort_stage); }
// GB/s against BM_MemoryRandomRows of the same run: how near the stage is to the machine's
// bandwidth for random rows.
void BM_LshGathering(benchmark::State& state) {
  run_stage(state, attend_stage<kGatherChunks>, gathered_bytes(state.range(0)));
}
void BM_LshChunkAttention(benchmark::State& state) {
  run_stage(state, attend_stage<kAttendChunks>);
}

void BM_LshTotal(benchmark::State& state) {
  LshSetup setup(state.range(0));
  const auto variant = make_variant(kLshSpec);
  for (auto _ : state) {
    setup.arena.execute([&] { variant->forward(setup.inputs, setup.out.mutable_view()); });
    benchmark::ClobberMemory();
  }
  report_flops(state, 4.0 * static_cast<double>(variant->pairs(setup.inputs)) * 64.0);
}

void BM_LshSlidingWindowSamePairs(benchmark::State& state) {
  LshSetup setup(state.range(0));
  const auto variant =
      make_variant(same_pairs_window(setup, make_variant(kLshSpec)->pairs(setup.inputs)));
  for (auto _ : state) {
    setup.arena.execute([&] { variant->forward(setup.inputs, setup.out.mutable_view()); });
    benchmark::ClobberMemory();
  }
  state.SetLabel(variant->params());
  report_flops(state, 4.0 * static_cast<double>(variant->pairs(setup.inputs)) * 64.0);
}

// Every stage, the whole forward and sliding_window at the same pairs per query, one after
// another in each iteration, so that the shares and the per-pair ratio come from timings taken
// seconds apart (this machine's speed drifts between minutes). Counters, in ms per forward:
// each stage; gathering_GB/s, the gathering stage's traffic over its time, random_rows_GB/s,
// every row of Q, K and V copied in a random order (copy_rows_in_order), and their ratio
// gathering_vs_random_rows, how near the gathers are to the machine's ceiling for them;
// share_stages = (hashing + sorting + gathering) / total, stages timed apart;
// share_outside_attention = (total - chunk attention) / total, what the forward spends beyond
// the engine's arithmetic; per_pair_vs_sliding_window = lsh's time per computed pair over
// sliding_window's.
void BM_LshStageShares(benchmark::State& state) {
  LshSetup setup(state.range(0));
  const auto variant = make_variant(kLshSpec);
  const std::int64_t lsh_pairs = variant->pairs(setup.inputs);
  const auto window = make_variant(same_pairs_window(setup, lsh_pairs));
  const std::int64_t window_pairs = window->pairs(setup.inputs);
  // Every row of Q, K and V in a random order, copied by two threads: the machine's bandwidth
  // for the gathers' access pattern, measured beside them.
  std::vector<const float*> rows;
  for (const TensorView* tensor : {&setup.inputs.q, &setup.inputs.k, &setup.inputs.v})
    for (std::int64_t h = 0; h < setup.shape.heads; ++h)
      for (std::int64_t i = 0; i < setup.shape.seq_len; ++i)
        rows.push_back(tensor->head(0, h) + i * setup.shape.head_dim);
  std::shuffle(rows.begin(), rows.end(), std::mt19937(0));
  const auto row_floats = static_cast<std::size_t>(setup.shape.head_dim);
  constexpr std::size_t kRingRows = 64;
  std::vector<float> rings(kLshThreads * kRingRows * row_floats);
  const auto copy_random_rows = [&] {
    tbb::parallel_for(0, kLshThreads, [&](int part) {
      const std::size_t begin = rows.size() * static_cast<std::size_t>(part) / kLshThreads,
                        end = rows.size() * static_cast<std::size_t>(part + 1) / kLshThreads;
      copy_rows_in_order(std::span(rows).subspan(begin, end - begin), row_floats,
                         rings.data() + static_cast<std::size_t>(part) * kRingRows * row_floats,
                         kRingRows);
    });
  };
  enum { kHash, kSort, kGatherStage, kAttendStage, kTotal, kWindow, kRandomRows, kTimes };
  std::array<double, kTimes> ms{};
  const auto timed = [&](int slot, const auto& work) {
    const auto start = std::chrono::steady_clock::now();
    setup.arena.execute(work);
    benchmark::ClobberMemory();
    ms[static_cast<std::size_t>(slot)] +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  };
  for (auto _ : state) {
    timed(kHash, [&] { every_head(setup, hash_stage); });
    timed(kSort, [&] { every_head(setup, sort_stage); });
    timed(kGatherStage, [&] { every_head(setup, attend_stage<kGatherChunks>); });
    timed(kAttendStage, [&] { every_head(setup, attend_stage<kAttendChunks>); });
    timed(kTotal, [&] { variant->forward(setup.inputs, setup.out.mutable_view()); });
    timed(kWindow, [&] { window->forward(setup.inputs, setup.out.mutable_view()); });
    timed(kRandomRows, copy_random_rows);
  }
  const double n = static_cast<double>(state.iterations());
  const char* names[] = {"hashing_ms", "sorting_ms",        "gathering_ms",  "chunk_attention_ms",
                         "total_ms",   "sliding_window_ms", "random_rows_ms"};
  for (int i = 0; i < kTimes; ++i) state.counters[names[i]] = ms[static_cast<std::size_t>(i)] / n;
  const double gathering_gbps = gathered_bytes(state.range(0)) / 1e6 / (ms[kGatherStage] / n);
  const double random_rows_gbps =
      static_cast<double>(rows.size() * row_floats * sizeof(float)) / 1e6 / (ms[kRandomRows] / n);
  state.counters["gathering_GB/s"] = gathering_gbps;
  state.counters["random_rows_GB/s"] = random_rows_gbps;
  state.counters["gathering_vs_random_rows"] = gathering_gbps / random_rows_gbps;
  state.counters["share_stages"] = (ms[kHash] + ms[kSort] + ms[kGatherStage]) / ms[kTotal];
  state.counters["share_outside_attention"] = (ms[kTotal] - ms[kAttendStage]) / ms[kTotal];
  state.counters["per_pair_vs_sliding_window"] = (ms[kTotal] / static_cast<double>(lsh_pairs)) /
                                                 (ms[kWindow] / static_cast<double>(window_pairs));
}

BENCHMARK(BM_LshHashing)->Arg(65536)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LshSorting)->Arg(65536)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LshGathering)->Arg(65536)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LshChunkAttention)->Arg(65536)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LshTotal)->Arg(65536)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LshSlidingWindowSamePairs)->Arg(65536)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LshStageShares)
    ->Arg(65536)
    ->Iterations(2)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace attn::micro
