#pragma once

#include <iosfwd>

#include "harness/sweep/sweep_config.hpp"

namespace attn::harness {

// The subcommands of attnbench. Each returns the process exit status.
int list_variants(std::ostream& out);
int run_sweep(const SweepConfig& config);  // `run` and `sweep`: rows to --out or a table
int export_pattern(const PatternConfig& config);

}  // namespace attn::harness
