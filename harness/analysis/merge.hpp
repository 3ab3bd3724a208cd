#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "harness/analysis/sweep_coverage.hpp"

namespace attn::harness {

// What `attnbench merge` merges (cli/ parses the command line into it).
struct MergeOptions {
  std::vector<std::string> inputs;
  std::string out;
  ExpectedSweep expected;  // the sweep the inputs are parts of (--expect, options after --)
  int num_shards = 0;      // --num-shards; 0: the config's num-shards, else the rows', else 1
  bool allow_missing = false;
};

// Throws UsageError when --out is one of the inputs under any name (./a.csv, a symlink, a hard
// link): appending a file to itself would read rows it is writing.
void check_out_is_not_an_input(const MergeOptions& options);

// Reads every input in full (each must have the suite's header, or the one from before the
// serving-shape columns, and well-formed rows), then appends their rows in input order to --out
// through CsvWriter, in the current layout. Nothing is written when an input is rejected. With
// an expected sweep (its definition loaded), the inputs are its parts: each item once, in the
// sweep's order, or exit status 1 when items are missing (unless allow_missing), rows belong to
// no item or two ok rows of an item differ. Throws UsageError for bad usage (including --out
// being an input) and std::invalid_argument for unreadable or malformed files. Reports what it
// did to `out`; returns the exit status.
int merge_results(const MergeOptions& options, std::ostream& out);

}  // namespace attn::harness
