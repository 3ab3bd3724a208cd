#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "harness/sweep/sweep_config.hpp"
#include "harness/sweep/usage_error.hpp"

namespace attn::harness {

// Option parsing for each command; `args` excludes the program and command names. Each throws
// UsageError with a message naming the option, the value and what is allowed. `help` receives
// the command's help text when --help is given (and the function returns std::nullopt).
std::optional<SweepConfig> parse_run_options(const std::vector<std::string>& args,
                                             std::string& help);
std::optional<SweepConfig> parse_sweep_options(const std::vector<std::string>& args,
                                               std::string& help);

// The sweep defined by a config file (as `sweep --config FILE` reads it), for merge --expect
// and status: validated like a sweep, with no --out needed and no shard index read from the
// environment. `num_shards` receives the file's num-shards (0 when it has none).
SweepConfig load_sweep_definition(const std::string& config_path, int& num_shards);
// The same from a sweep's options as given to `attnbench sweep` (which may include --config).
SweepConfig load_sweep_definition(const std::vector<std::string>& sweep_args, int& num_shards);

std::optional<PatternConfig> parse_pattern_options(const std::vector<std::string>& args,
                                                   std::string& help);

// Value parsers, exposed for tests. `option` names the option in messages.
std::vector<std::int64_t> parse_int_list(const std::string& option, const std::string& text,
                                         std::int64_t min, std::int64_t max);
std::vector<int> parse_bool_list(const std::string& option, const std::string& text);
std::int64_t parse_bytes(const std::string& option, const std::string& text);

}  // namespace attn::harness
