#include "harness/analysis/sweep_coverage.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>

#include "harness/analysis/compare.hpp"
#include "harness/io/csv.hpp"
#include "harness/io/shell_word.hpp"
#include "harness/sweep/usage_error.hpp"

namespace attn::harness {
namespace {

// A row as written, less where and when it was measured: two rows that agree on this are the
// same measurement, copied.
std::string measurement_text(ResultRow row) {
  row.timestamp.clear();
  row.context.host.clear();
  row.shard.clear();
  row.job_id.clear();
  return csv_line(row);
}

}  // namespace

std::string ExpectedSweep::sweep_arguments() const {
  std::string text = config.empty() ? "" : "--config " + shell_word(config);
  for (const std::string& option : options) text += (text.empty() ? "" : " ") + shell_word(option);
  return text;
}

std::string ExpectedSweep::name() const {
  return options.empty() ? config : "the sweep '" + sweep_arguments() + "'";
}

std::vector<std::string> ExpectedSweep::sweep_args() const {
  std::vector<std::string> args;
  if (!config.empty()) args = {"--config", config};
  args.insert(args.end(), options.begin(), options.end());
  return args;
}

PartFile read_part_file(const std::string& path) { return {path, read_results_csv(path)}; }

const char* item_state_name(ItemState state) {
  switch (state) {
    case ItemState::kDone:
      return "done";
    case ItemState::kSkipped:
      return "skipped";
    case ItemState::kError:
      return "error";
    case ItemState::kMissing:
      return "missing";
  }
  return "?";
}

SweepCoverage match_parts(const SweepPlan& plan, const std::vector<PartFile>& files) {
  std::map<ResultKey, std::size_t> index;
  for (std::size_t i = 0; i < plan.items.size(); ++i)
    index.emplace(
        result_key(point_row(plan.point_of(plan.items[i]), plan.variant_of(plan.items[i]))), i);
  SweepCoverage coverage;
  coverage.rows_of_item.resize(plan.items.size());
  for (std::size_t f = 0; f < files.size(); ++f)
    for (std::size_t r = 0; r < files[f].rows.size(); ++r) {
      const auto it = index.find(result_key(files[f].rows[r]));
      if (it == index.end()) {
        coverage.foreign.push_back({f, r});
      } else {
        coverage.rows_of_item[it->second].push_back({f, r});
      }
    }
  return coverage;
}

ItemState SweepCoverage::state(const std::vector<PartFile>& files, std::size_t item) const {
  const std::vector<RowRef>& refs = rows_of_item[item];
  if (refs.empty()) return ItemState::kMissing;
  for (const RowRef& ref : refs)
    if (files[ref.file].rows[ref.row].status == kStatusOk) return ItemState::kDone;
  return files[refs.back().file].rows[refs.back().row].status == kStatusSkipped
             ? ItemState::kSkipped
             : ItemState::kError;
}

RowRef SweepCoverage::chosen(const std::vector<PartFile>& files, std::size_t item) const {
  const std::vector<RowRef>& refs = rows_of_item[item];
  for (auto it = refs.rbegin(); it != refs.rend(); ++it)
    if (files[it->file].rows[it->row].status == kStatusOk) return *it;
  return refs.back();
}

std::vector<Conflict> find_conflicts(const SweepCoverage& coverage,
                                     const std::vector<PartFile>& files) {
  std::vector<Conflict> conflicts;
  for (std::size_t item = 0; item < coverage.rows_of_item.size(); ++item) {
    const RowRef* first_ok = nullptr;
    std::string first_text;
    for (const RowRef& ref : coverage.rows_of_item[item]) {
      const ResultRow& row = files[ref.file].rows[ref.row];
      if (row.status != kStatusOk) continue;
      if (!first_ok) {
        first_ok = &ref;
        first_text = measurement_text(row);
      } else if (measurement_text(row) != first_text) {
        conflicts.push_back({item, *first_ok, ref});
        break;
      }
    }
  }
  return conflicts;
}

std::string where(const std::vector<PartFile>& files, RowRef ref) {
  return files[ref.file].path + " line " + std::to_string(ref.row + 2);
}

std::string describe_item(const SweepPlan& plan, std::size_t item) {
  return plan.point_of(plan.items[item]).to_string() + "  " +
         plan.variant_of(plan.items[item]).spec();
}

int shard_count_of_parts(const std::vector<PartFile>& files, int given, int from_config) {
  int chosen = given > 0 ? given : from_config;
  const char* chosen_from = given > 0 ? "--num-shards" : "the config's num-shards";
  for (std::size_t f = 0; f < files.size(); ++f)
    for (std::size_t r = 0; r < files[f].rows.size(); ++r) {
      const std::string& label = files[f].rows[r].shard;
      const std::size_t slash = label.find('/');
      if (label.empty() || slash == std::string::npos) continue;
      const int count = std::atoi(label.c_str() + slash + 1);
      if (chosen == 0) {
        chosen = count;
        chosen_from = nullptr;
      }
      if (count != chosen)
        throw UsageError(
            where(files, {f, r}) + " was measured as shard " + label + ", but " +
            (chosen_from ? std::string(chosen_from) + " is " : std::string("other rows say ")) +
            std::to_string(chosen) +
            " shards; check parts of one split together (give --num-shards)");
    }
  return chosen > 0 ? chosen : 1;
}

}  // namespace attn::harness
