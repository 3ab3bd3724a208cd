#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "attention/numeric/dtype.hpp"
#include "harness/measure/measure.hpp"
#include "harness/sweep/shard_selection.hpp"

namespace attn::harness {

// Everything `run` and `sweep` need, validated: lists are the sweep's axes (one value each for
// `run`).
struct SweepConfig {
  std::vector<std::string> variant_specs;
  std::vector<std::int64_t> seq_lens, batches, heads, head_dims;
  // 0 stands for the default of each point: kv_heads = heads, query_len = seq_len.
  std::vector<std::int64_t> kv_heads, query_lens;
  // The forward's dtype and the KV cache's format, one axis (--dtype or --kv-dtype): a quantized
  // cache dequantizes to an fp32 forward, an unquantized one is stored in the forward's dtype.
  struct Precision {
    Dtype dtype = Dtype::kFp32;
    KvQuantization kv = KvQuantization::kNone;
  };
  std::vector<Precision> precisions;       // empty: fp32
  std::vector<std::int64_t> decode_steps;  // empty: {0}, single forwards
  std::vector<int> causal, shared_qk;      // 0 or 1
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

// Everything `pattern` needs: one variant at one point, and the .npy file to write.
struct PatternConfig {
  std::string variant_spec;
  Point point;
  std::string save;
};

}  // namespace attn::harness
