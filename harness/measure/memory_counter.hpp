#pragma once

#include <cstdint>

namespace attn::harness {

// Counts the bytes of every C++ heap allocation in the process (this program replaces the
// global operator new and delete), so a forward pass's peak workspace can be measured.
struct MemorySnapshot {
  std::int64_t current_bytes = 0;    // live bytes now
  std::int64_t peak_bytes = 0;       // highest live bytes since the last reset_peak()
  std::int64_t allocations = 0;      // allocations since the process started
  std::int64_t allocated_bytes = 0;  // bytes allocated since the process started
};

MemorySnapshot memory_snapshot();
// Sets the peak to the current live bytes, so the next peak is measured from here.
void reset_memory_peak();

}  // namespace attn::harness
