#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "harness/analysis/sweep_coverage.hpp"

namespace attn::harness {

// What `attnbench status` checks (cli/ parses the command line into it).
struct StatusOptions {
  std::vector<std::string> inputs;  // the parts
  ExpectedSweep expected;           // the sweep they are parts of, its definition loaded
  int num_shards = 0;  // --num-shards; 0: the config's num-shards, else the rows', else 1
};

// Done / skipped / error / missing per shard of the expected sweep, and the commands that
// measure what is missing or failed. Returns 0 when every item is done or skipped, 1 otherwise.
// Throws UsageError when the parts name another shard count and std::invalid_argument for
// unreadable or malformed files.
int print_sweep_status(const StatusOptions& options, std::ostream& out);

}  // namespace attn::harness
