#pragma once

#include <functional>
#include <optional>
#include <string>

namespace attn::harness {

// Which part of a sweep this process measures. num_shards 0: the whole sweep (unsharded).
struct ShardSelection {
  int num_shards = 0;
  int index = -1;  // 0-based; -1 when no index is in play (unsharded, or --plan of every shard)
  std::string index_source;  // "--shard-index", "SLURM_ARRAY_TASK_ID" or "JOB_COMPLETION_INDEX"

  bool sharded() const { return num_shards > 0; }
  std::string label() const;  // "I/N", the CSV's shard column; "" when unsharded
};

// Environment variables that carry a shard index, in the order they are consulted: Slurm job
// arrays, then Kubernetes indexed jobs.
inline constexpr const char* kShardIndexVariables[] = {"SLURM_ARRAY_TASK_ID",
                                                       "JOB_COMPLETION_INDEX"};

// Resolves --num-shards and --shard-index (as given, or nullopt) with the index defaulting from
// the environment (`getenv`, std::getenv in the program). The count never comes from the
// environment: a partial re-submission of an array changes SLURM_ARRAY_TASK_COUNT. So an
// index without --num-shards is an error, as are a count below 1, an index outside [0, count)
// and a non-numeric value; each throws UsageError naming the option or variable. With
// `plan` (sweep --plan) no index is needed and the environment is not read.
ShardSelection resolve_shard_selection(const std::optional<std::string>& num_shards,
                                       const std::optional<std::string>& shard_index, bool plan,
                                       const std::function<const char*(const char*)>& getenv);

}  // namespace attn::harness
