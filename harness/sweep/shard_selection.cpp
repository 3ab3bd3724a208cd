#include "harness/sweep/shard_selection.hpp"

#include <charconv>

#include "harness/sweep/usage_error.hpp"

namespace attn::harness {
namespace {

constexpr int kMaxShards = 1 << 20;

// A non-negative decimal integer below `limit`, or nullopt.
std::optional<int> parse_index(const std::string& text, int limit) {
  int value = -1;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value < 0 ||
      value >= limit)
    return std::nullopt;
  return value;
}

}  // namespace

std::string ShardSelection::label() const {
  return sharded() ? std::to_string(index) + "/" + std::to_string(num_shards) : "";
}

ShardSelection resolve_shard_selection(const std::optional<std::string>& num_shards,
                                       const std::optional<std::string>& shard_index, bool plan,
                                       const std::function<const char*(const char*)>& getenv) {
  ShardSelection s;
  if (num_shards) {
    const auto n = parse_index(*num_shards, kMaxShards + 1);
    if (!n || *n < 1)
      throw UsageError("--num-shards: '" + *num_shards + "' is not an integer in [1, " +
                       std::to_string(kMaxShards) + "]");
    s.num_shards = *n;
  }
  std::optional<std::string> index_text = shard_index;
  if (index_text) {
    s.index_source = "--shard-index";
  } else if (!plan) {
    for (const char* variable : kShardIndexVariables)
      if (const char* value = getenv(variable); value != nullptr && *value != '\0') {
        index_text = value;
        s.index_source = variable;
        break;
      }
  }
  if (!index_text) {
    if (s.sharded() && !plan)
      throw UsageError("--num-shards " + std::to_string(s.num_shards) +
                       " needs the shard to measure: --shard-index I (0-based), or "
                       "SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX in the environment");
    return s;
  }
  const std::string from =
      s.index_source == "--shard-index" ? "--shard-index" : s.index_source + " (the shard index)";
  if (!s.sharded())
    throw UsageError(from + " is '" + *index_text +
                     "' but --num-shards is not given; the shard count must be given "
                     "explicitly (an array's task count changes when part of it is resubmitted)");
  const auto index = parse_index(*index_text, s.num_shards);
  if (!index)
    throw UsageError(from + ": '" + *index_text + "' is not an integer in [0, " +
                     std::to_string(s.num_shards - 1) + "] (shards are numbered from 0 for " +
                     "--num-shards " + std::to_string(s.num_shards) + ")");
  s.index = *index;
  return s;
}

}  // namespace attn::harness
