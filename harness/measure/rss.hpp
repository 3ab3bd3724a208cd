#pragma once

#include <cstdint>

namespace attn::harness {

// Resident set size, from /proc/self/status: the bytes of this process in physical memory.
std::int64_t current_rss_bytes();
// The high-water mark of the RSS (VmHWM) since the last reset.
std::int64_t peak_rss_bytes();
// Resets the high-water mark to the current RSS (writes 5 to /proc/self/clear_refs) after
// returning freed heap memory to the kernel, so one point's peak does not depend on the points
// before it. Returns false if the kernel does not allow it.
bool reset_peak_rss();

}  // namespace attn::harness
