#pragma once

#include <boost/program_options.hpp>

#include <iosfwd>
#include <string>
#include <vector>

#include "harness/analysis/advise.hpp"

namespace attn::harness {

// The commands that read results back. Each parses its options (`args` excludes the program and
// command names) into the request analysis/ defines, runs it and returns the exit status; with
// --help it writes the command's usage and options to `out` and returns 0. Each throws
// UsageError for bad usage and std::invalid_argument for unreadable or malformed files.

// `attnbench compare BASE.csv NEW.csv [options]` (compare_results): 0, or 1 with
// --fail-on-regression when a row is slower beyond the threshold.
int compare_command(const std::vector<std::string>& args, std::ostream& out);
// `attnbench merge A.csv B.csv ... --out ALL.csv`, or with --expect CONFIG and/or the sweep's
// options after -- the parts of that sweep (merge_results; --out being an input is a UsageError).
int merge_command(const std::vector<std::string>& args, std::ostream& out);
// `attnbench status --expect CONFIG parts/*.csv [--num-shards N]` (print_sweep_status): 0 when
// every item is done or skipped, 1 otherwise.
int status_command(const std::vector<std::string>& args, std::ostream& out);
// `attnbench advise FILE.csv... [options]` (print_advice): 0.
int advise_command(const std::vector<std::string>& args, std::ostream& out);
// `attnbench report FILE.csv... --out report.html [bounds]` (write_report).
int report_command(const std::vector<std::string>& args, std::ostream& out);

// Threshold text: a percentage ("5%") or a fraction below 1 ("0.05"). Exposed for tests.
double parse_threshold(const std::string& text);

// The bound options as typed, shared by `advise` and `report`.
struct AdviseOptionText {
  std::string min_recall = "0.99", max_rel_err, max_memory, baseline, by;  // empty: default
};
void add_advise_options(boost::program_options::options_description& options,
                        AdviseOptionText& text);
// Throws UsageError naming the option, the value and what is allowed.
AdviseOptions parse_advise_options(const AdviseOptionText& text);

}  // namespace attn::harness
