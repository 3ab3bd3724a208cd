#include "harness/analysis/status.hpp"

#include <array>
#include <filesystem>
#include <map>
#include <ostream>

#include "harness/analysis/sweep_coverage.hpp"

namespace attn::harness {
namespace {

constexpr std::size_t kListed = 20;  // items listed before "... and K more"

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

// The file each shard's rows are in (the last one seen), or the sbatch script's name for it
// next to the first part.
std::string file_of_shard(const std::vector<PartFile>& files, const SweepPlan& plan, int shard) {
  const std::string label = std::to_string(shard) + "/" + std::to_string(plan.num_shards);
  for (auto f = files.size(); f-- > 0;)
    for (const ResultRow& row : files[f].rows)
      if (row.shard == label) return files[f].path;
  const std::filesystem::path dir = files.empty()
                                        ? std::filesystem::path(".")
                                        : std::filesystem::path(files[0].path).parent_path();
  return (dir.empty() ? std::filesystem::path(".") : dir) /
         ("shard-" + std::to_string(shard) + "-of-" + std::to_string(plan.num_shards) + ".csv");
}

}  // namespace

int print_sweep_status(const StatusOptions& options, std::ostream& out) {
  const ExpectedSweep& expected = options.expected;
  std::vector<PartFile> files;
  for (const std::string& input : options.inputs) files.push_back(read_part_file(input));
  const SweepPlan plan = make_sweep_plan(
      expected.definition, shard_count_of_parts(files, options.num_shards, expected.config_shards));
  const SweepCoverage coverage = match_parts(plan, files);

  // Per shard: counts of each state.
  std::vector<std::array<std::size_t, 4>> counts(static_cast<std::size_t>(plan.num_shards),
                                                 std::array<std::size_t, 4>{});
  std::vector<std::size_t> unfinished;
  for (std::size_t i = 0; i < plan.items.size(); ++i) {
    const ItemState state = coverage.state(files, i);
    ++counts[static_cast<std::size_t>(plan.shard_of[i])][static_cast<std::size_t>(state)];
    if (state == ItemState::kError || state == ItemState::kMissing) unfinished.push_back(i);
  }
  out << "sweep " << expected.name() << ": " << plan.items.size() << " items in " << plan.num_shards
      << " shard" << (plan.num_shards == 1 ? "" : "s") << ", " << files.size() << " file"
      << (files.size() == 1 ? "" : "s") << "\n";
  out << pad("shard", 10) << pad("items", 8) << pad("done", 8) << pad("skipped", 9)
      << pad("error", 8) << pad("missing", 9) << "file\n";
  std::vector<int> to_rerun;
  for (int s = 0; s < plan.num_shards; ++s) {
    const auto& c = counts[static_cast<std::size_t>(s)];
    const std::size_t items = c[0] + c[1] + c[2] + c[3];
    out << pad(std::to_string(s) + "/" + std::to_string(plan.num_shards), 10)
        << pad(std::to_string(items), 8) << pad(std::to_string(c[0]), 8)
        << pad(std::to_string(c[1]), 9) << pad(std::to_string(c[2]), 8)
        << pad(std::to_string(c[3]), 9) << file_of_shard(files, plan, s) << "\n";
    if (c[2] + c[3] > 0) to_rerun.push_back(s);
  }
  if (!coverage.foreign.empty())
    out << "note: " << coverage.foreign.size()
        << " row(s) are not items of this sweep (another config?), first at "
        << where(files, coverage.foreign.front()) << "\n";
  if (unfinished.empty()) {
    out << "complete: every item is done or skipped\n";
    return 0;
  }
  out << unfinished.size() << " item(s) missing or failed:\n";
  for (std::size_t n = 0; n < unfinished.size() && n < kListed; ++n) {
    const std::size_t i = unfinished[n];
    out << "  shard " << plan.shard_of[i] << "/" << plan.num_shards << "  "
        << item_state_name(coverage.state(files, i)) << "  " << describe_item(plan, i) << "\n";
  }
  if (unfinished.size() > kListed) out << "  ... and " << unfinished.size() - kListed << " more\n";
  out << "to measure them (--resume keeps the rows already done):\n";
  std::string indices;
  for (int s : to_rerun) {
    out << "  attnbench sweep " << expected.sweep_arguments() << " --num-shards " << plan.num_shards
        << " --shard-index " << s << " --out " << file_of_shard(files, plan, s) << " --resume\n";
    indices += (indices.empty() ? "" : ",") + std::to_string(s);
  }
  const std::string dir =
      std::filesystem::path(file_of_shard(files, plan, to_rerun[0])).parent_path().string();
  if (expected.options.empty()) {
    out << "or on Slurm: harness/slurm/submit.sh " << expected.config << " " << plan.num_shards
        << " " << (dir.empty() ? "." : dir) << " " << indices << "\n";
  } else {
    out << "or on Slurm, with the sweep's options in a config file CONFIG: "
           "harness/slurm/submit.sh CONFIG "
        << plan.num_shards << " " << (dir.empty() ? "." : dir) << " " << indices << "\n";
  }
  return 1;
}

}  // namespace attn::harness
