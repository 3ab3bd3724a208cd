#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attention/core/variant.hpp"
#include "harness/measure/measure.hpp"
#include "harness/sweep/sweep_config.hpp"

namespace attn::harness {

// One (point, variant) of a sweep.
struct SweepItem {
  std::size_t point = 0;    // index into SweepPlan::points
  std::size_t variant = 0;  // index into SweepPlan::variants
  // The item in canonical text (canonical spec, shape, flags, input, seed, exact scale,
  // threads): independent of the order the sweep's options were written in. The split sorts by it.
  std::string key;
  // Predicted microseconds under the default timing (--reps 5 --min-time 0.2), whatever the
  // sweep's timing options: the split must not move when only the repetitions change.
  std::int64_t weight_us = 0;
};

// A sweep as a deterministic, ordered list of items, and which shard measures each.
struct SweepPlan {
  std::vector<std::unique_ptr<Variant>> variants;  // the sweep's --variant specs, in order
  std::vector<Point> points;                       // expand_points(config)
  std::vector<SweepItem> items;                    // measurement order: by point, then variant
  int num_shards = 1;
  std::vector<int> shard_of;  // per item

  const Variant& variant_of(const SweepItem& item) const { return *variants[item.variant]; }
  const Point& point_of(const SweepItem& item) const { return points[item.point]; }
  // The items of one shard, in measurement order.
  std::vector<std::size_t> items_of_shard(int shard) const;
};

// Builds the plan of a validated sweep configuration split into `num_shards` (1: unsharded).
SweepPlan make_sweep_plan(const SweepConfig& config, int num_shards);

// The split rule: longest processing time first. Items are sorted by weight, heaviest first,
// ties by key; each goes to the shard with the least weight so far (the lowest index on ties).
// It depends only on (weight, key) pairs, so neither the host, nor the order of arrival, nor the
// order of the sweep's options can change it. No shard exceeds the mean load by more than its
// last item's weight, and the heaviest shard is within 4/3 of the best possible split.
std::vector<int> split_longest_first(const std::vector<SweepItem>& items, int num_shards);

// Predicted seconds of one forward: 4 · pairs · head_dim at an assumed rate per thread. A rough
// figure, good for balance (time is about proportional to pairs) rather than for a deadline.
double predicted_forward_seconds(const Variant& variant, const Point& point);
// Predicted seconds of measuring an item: the warm-up forward, then `reps` repetitions of at
// least `min_time` seconds each.
double predicted_item_seconds(const Variant& variant, const Point& point,
                              const TimingOptions& timing);

// Predicted seconds of the fp64 accuracy sample of a point (`rows` query rows per problem over
// every key), computed once per point and read by each of its variants.
double predicted_accuracy_seconds(const Point& point, std::int64_t rows);
// Predicted seconds to measure the given items (indices into plan.items) under these options:
// their items plus each distinct point's accuracy sample. Printed before a sweep starts.
double predicted_sweep_seconds(const SweepPlan& plan, const std::vector<std::size_t>& items,
                               const MeasureOptions& options);
std::string format_seconds(double seconds);

// `sweep --plan`: each shard's items with their predicted time (all shards, or only `only`).
void print_plan(const SweepPlan& plan, const TimingOptions& timing, int only, std::ostream& out);

}  // namespace attn::harness
