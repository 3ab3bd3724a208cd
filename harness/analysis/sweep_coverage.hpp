#pragma once

#include <cstddef>
#include <iosfwd>
#include <string>
#include <vector>

#include "harness/io/result_row.hpp"
#include "harness/sweep/sweep_config.hpp"
#include "harness/sweep/sweep_plan.hpp"

namespace attn::harness {

// The sweep parts are checked against: `--expect CONFIG`, and/or the sweep's own options after
// a `--` (as given to attnbench sweep), e.g. `status parts/*.csv -- --seq-len 1K,4K --variant
// flash`.
struct ExpectedSweep {
  std::string config;                // --expect, or empty
  std::vector<std::string> options;  // after "--"
  // The sweep they define, parsed and validated as `attnbench sweep sweep_args()` would be (cli/
  // loads it), and its num-shards (0 when none).
  SweepConfig definition;
  int config_shards = 0;

  bool given() const { return !config.empty() || !options.empty(); }
  // "CONFIG" or "the sweep '--seq-len 1K,4K ...'", for messages.
  std::string name() const;
  // The sweep's options as one shell string: "--config CONFIG --seq-len 1K,4K".
  std::string sweep_arguments() const;
  // The same as arguments of `attnbench sweep`: {"--config", CONFIG, "--seq-len", "1K,4K"}.
  std::vector<std::string> sweep_args() const;
};

// A results file read in full; row i is on line i + 2 (the header is line 1, one row a line).
struct PartFile {
  std::string path;
  std::vector<ResultRow> rows;
};
PartFile read_part_file(const std::string& path);

struct RowRef {
  std::size_t file = 0;
  std::size_t row = 0;
};

enum class ItemState { kDone, kSkipped, kError, kMissing };
const char* item_state_name(ItemState state);

// The rows of a sweep's parts matched to its items by ResultKey (the point and the variant;
// host, shard, job and timestamp do not enter).
struct SweepCoverage {
  std::vector<std::vector<RowRef>> rows_of_item;  // per item, in input order
  std::vector<RowRef> foreign;                    // rows of no item of the sweep

  // done: an ok row; else skipped or error after the last such row; missing: no row.
  ItemState state(const std::vector<PartFile>& files, std::size_t item) const;
  // The row that stands for the item in a merge: its last ok row, else its last row.
  RowRef chosen(const std::vector<PartFile>& files, std::size_t item) const;
};
SweepCoverage match_parts(const SweepPlan& plan, const std::vector<PartFile>& files);

// Two ok rows of one item with different measurements (identical copies are not a conflict).
struct Conflict {
  std::size_t item = 0;
  RowRef first, second;
};
std::vector<Conflict> find_conflicts(const SweepCoverage& coverage,
                                     const std::vector<PartFile>& files);

// "parts/a.csv line 7".
std::string where(const std::vector<PartFile>& files, RowRef ref);
// "N=4096 ... flash:block=0", for lists of items.
std::string describe_item(const SweepPlan& plan, std::size_t item);

// The shard count to check parts against: `given` (--num-shards) when positive, else the
// config's, else the one the rows' shard column names ("I/N"), else 1. Throws UsageError when
// rows name another count than the one chosen, or several.
int shard_count_of_parts(const std::vector<PartFile>& files, int given, int from_config);

}  // namespace attn::harness
