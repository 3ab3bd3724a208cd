#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace attn::harness {

// `attnbench status --expect CONFIG parts/*.csv [--num-shards N]`: done / skipped / error /
// missing per shard of the sweep CONFIG defines, and the commands that measure what is
// missing or failed. Returns 0 when every item is done or skipped, 1 otherwise. Throws
// UsageError for bad usage and std::invalid_argument for unreadable or malformed files.
int status_command(const std::vector<std::string>& args, std::ostream& out);

}  // namespace attn::harness
