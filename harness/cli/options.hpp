#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "harness/measure/measure.hpp"
#include "harness/sweep/shard_selection.hpp"

namespace attn::harness {

// Bad user input: reported with exit status 2.
class UsageError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Everything `run` and `sweep` need, validated: lists are the sweep's axes (one value each for
// `run`).
struct SweepConfig {
  std::vector<std::string> variant_specs;
  std::vector<std::int64_t> seq_lens, batches, heads, head_dims;
  // 0 stands for the default of each point: kv_heads = heads, query_len = seq_len.
  std::vector<std::int64_t> kv_heads, query_lens;
  std::vector<Dtype> dtypes;           // empty: fp32
  std::vector<int> causal, shared_qk;  // 0 or 1
  std::vector<std::string> inputs;
  std::vector<std::uint64_t> seeds;
  std::vector<int> threads;
  std::optional<float> scale;
  MeasureOptions measure;
  std::string out;
  bool plot = false;
  bool resume = false;
  std::string resume_command;  // the sweep's command line with --resume, shown after an interrupt
  std::string report;          // an HTML report of `out` to write when done (sweep --report)
  std::string command_line;    // the sweep's command line as given, quoted in the report
  // Sweep only: the part of the sweep to measure (unsharded by default), --plan (print each
  // shard's items, measure nothing), and the scheduler's job id for the CSV (SLURM_JOB_ID).
  ShardSelection shard;
  bool plan = false;
  std::string job_id;
};

// The measurement points of the cartesian product, smallest sequence length first. Their
// shapes are not checked here (check_points in the parsers does, with the options named).
std::vector<Point> expand_points(const SweepConfig& config);

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

struct PatternConfig {
  std::string variant_spec;
  Point point;
  std::string save;
};
std::optional<PatternConfig> parse_pattern_options(const std::vector<std::string>& args,
                                                   std::string& help);

// Value parsers, exposed for tests. `option` names the option in messages.
std::vector<std::int64_t> parse_int_list(const std::string& option, const std::string& text,
                                         std::int64_t min, std::int64_t max);
std::vector<int> parse_bool_list(const std::string& option, const std::string& text);
std::int64_t parse_bytes(const std::string& option, const std::string& text);

}  // namespace attn::harness
