#include "harness/sweep/sweep_plan.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <numeric>
#include <ostream>

#include "attention/core/registry.hpp"

namespace attn::harness {
namespace {

// Roughly what the engine's variants reach per thread on the CPUs the suite was measured on
// (40-80 GFLOP/s); only the ratios between items matter to the split.
constexpr double kAssumedFlopsPerThread = 50e9;
// Input generation and the benchmark's setup, per item.
constexpr double kItemOverheadSeconds = 0.05;
// The fp64 accuracy sample: scalar double-precision dot products, and each variant's keys() and
// mass recall over the same rows (about 1 GFLOP/s per thread on the CPUs measured).
constexpr double kAssumedFp64FlopsPerThread = 1e9;

std::string exact_float(float value) {
  char buf[32];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, value);
  return std::string(buf, ptr);
}

std::string item_key(const Variant& variant, const Point& p) {
  const AttentionShape& s = p.shape;
  return variant.spec() + "|B" + std::to_string(s.batch) + "|H" + std::to_string(s.heads) + "|KV" +
         std::to_string(s.kv_heads) + "|N" + std::to_string(s.seq_len) + "|M" +
         std::to_string(s.query_len) + "|D" + std::to_string(s.head_dim) +
         (p.causal ? "|causal" : "|full") + (p.shared_qk ? "|shared" : "|separate") + "|" +
         p.input + "|seed" + std::to_string(p.seed) + "|scale" + exact_float(p.effective_scale()) +
         "|T" + std::to_string(p.threads) +
         (p.decode_steps > 0 ? "|steps" + std::to_string(p.decode_steps) : "") +
         (s.kv_quantization != KvQuantization::kNone
              ? "|kv" + std::string(kv_quantization_name(s.kv_quantization))
              : "");
}

}  // namespace

std::string format_seconds(double s) {
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.1f s", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%.1f min", s / 60);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f h", s / 3600);
  }
  return buf;
}

double predicted_accuracy_seconds(const Point& point, std::int64_t rows) {
  const AttentionShape& s = point.shape;
  // A session samples single queries at up to 8 steps.
  const double sampled = point.decode_steps > 0
                             ? static_cast<double>(std::min<std::int64_t>(point.decode_steps, 8))
                             : static_cast<double>(std::min(rows, s.query_len));
  const double flops = 4.0 * static_cast<double>(s.batch * s.heads) * sampled *
                       static_cast<double>(s.seq_len) * static_cast<double>(s.head_dim);
  return flops / (kAssumedFp64FlopsPerThread * std::max(1, point.threads));
}

double predicted_sweep_seconds(const SweepPlan& plan, const std::vector<std::size_t>& items,
                               const MeasureOptions& options) {
  double total = 0;
  std::vector<bool> point_counted(plan.points.size(), false);
  for (std::size_t i : items) {
    const SweepItem& item = plan.items[i];
    total += predicted_item_seconds(plan.variant_of(item), plan.point_of(item), options.timing);
    if (!point_counted[item.point]) {
      point_counted[item.point] = true;
      total += predicted_accuracy_seconds(plan.point_of(item), options.accuracy_rows);
    }
  }
  return total;
}

double predicted_forward_seconds(const Variant& variant, const Point& point) {
  if (!variant.unsupported(point.shape, point.causal).empty()) return 0;  // a skipped row
  const double pairs =
      static_cast<double>(variant.cost(point.shape, point.causal, point.threads).pairs);
  return 4 * pairs * static_cast<double>(point.shape.head_dim) /
         (kAssumedFlopsPerThread * std::max(1, point.threads));
}

double predicted_item_seconds(const Variant& variant, const Point& point,
                              const TimingOptions& timing) {
  if (!variant.unsupported(point.shape, point.causal).empty()) return kItemOverheadSeconds;
  const double forward = predicted_forward_seconds(variant, point);
  // A session runs each step once; its steps are the repetitions.
  if (point.decode_steps > 0)
    return kItemOverheadSeconds + static_cast<double>(point.decode_steps) * forward;
  return kItemOverheadSeconds + forward + timing.reps * std::max(timing.min_time, forward);
}

std::vector<int> split_longest_first(const std::vector<SweepItem>& items, int num_shards) {
  std::vector<std::size_t> order(items.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (items[a].weight_us != items[b].weight_us) return items[a].weight_us > items[b].weight_us;
    return items[a].key < items[b].key;
  });
  // Integer loads: sums and comparisons come out the same on every machine.
  std::vector<std::int64_t> load(static_cast<std::size_t>(num_shards), 0);
  std::vector<int> shard_of(items.size(), 0);
  for (std::size_t i : order) {
    const auto lightest = std::min_element(load.begin(), load.end());  // first of equals
    shard_of[i] = static_cast<int>(lightest - load.begin());
    *lightest += items[i].weight_us;
  }
  return shard_of;
}

SweepPlan make_sweep_plan(const SweepConfig& config, int num_shards) {
  SweepPlan plan;
  plan.num_shards = std::max(1, num_shards);
  for (const std::string& spec : config.variant_specs) plan.variants.push_back(make_variant(spec));
  plan.points = expand_points(config);
  const TimingOptions default_timing;
  for (std::size_t p = 0; p < plan.points.size(); ++p)
    for (std::size_t v = 0; v < plan.variants.size(); ++v) {
      SweepItem item;
      item.point = p;
      item.variant = v;
      item.key = item_key(*plan.variants[v], plan.points[p]);
      item.weight_us = static_cast<std::int64_t>(
          1e6 * predicted_item_seconds(*plan.variants[v], plan.points[p], default_timing));
      plan.items.push_back(std::move(item));
    }
  plan.shard_of = split_longest_first(plan.items, plan.num_shards);
  return plan;
}

std::vector<std::size_t> SweepPlan::items_of_shard(int shard) const {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < items.size(); ++i)
    if (shard_of[i] == shard) out.push_back(i);
  return out;
}

void print_plan(const SweepPlan& plan, const TimingOptions& timing, int only, std::ostream& out) {
  std::vector<double> totals(static_cast<std::size_t>(plan.num_shards), 0);
  for (std::size_t i = 0; i < plan.items.size(); ++i)
    totals[static_cast<std::size_t>(plan.shard_of[i])] += predicted_item_seconds(
        plan.variant_of(plan.items[i]), plan.point_of(plan.items[i]), timing);
  const double sum = std::accumulate(totals.begin(), totals.end(), 0.0);
  for (int s = 0; s < plan.num_shards; ++s) {
    if (only >= 0 && s != only) continue;
    const std::vector<std::size_t> mine = plan.items_of_shard(s);
    out << "shard " << s << "/" << plan.num_shards << ": " << mine.size() << " item"
        << (mine.size() == 1 ? "" : "s") << ", predicted " << format_seconds(totals[s]) << "\n";
    for (std::size_t i : mine) {
      const SweepItem& item = plan.items[i];
      out << "  " << plan.point_of(item).to_string() << "  " << plan.variant_of(item).spec() << "  "
          << format_seconds(
                 predicted_item_seconds(plan.variant_of(item), plan.point_of(item), timing))
          << "\n";
    }
  }
  const double mean = sum / plan.num_shards;
  const double heaviest = *std::max_element(totals.begin(), totals.end());
  char balance[64];
  std::snprintf(balance, sizeof balance, "%.2f", mean > 0 ? heaviest / mean : 1.0);
  out << plan.items.size() << " items in " << plan.num_shards << " shard"
      << (plan.num_shards == 1 ? "" : "s") << ", predicted " << format_seconds(sum)
      << " in all; the heaviest shard is " << balance
      << "x the mean (predicted at an assumed 50 GFLOP/s per thread: rough)\n";
}

}  // namespace attn::harness
