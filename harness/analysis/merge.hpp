#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace attn::harness {

// `attnbench merge A.csv B.csv ... --out ALL.csv`: reads every input in full (each must have
// the suite's header, or the one from before the serving-shape columns, and well-formed rows),
// then appends their rows in input order to --out through CsvWriter, in the current layout. Nothing
// is written when an input is rejected. Throws UsageError for bad usage (including --out being an
// input) and std::invalid_argument for unreadable or malformed files. Reports what it did to `out`;
// returns 0.
int merge_command(const std::vector<std::string>& args, std::ostream& out);

}  // namespace attn::harness
