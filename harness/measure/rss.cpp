#include "harness/measure/rss.hpp"

#include <malloc.h>

#include <fstream>
#include <string>

namespace attn::harness {
namespace {

std::int64_t status_field_bytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::stoll(line.substr(field.size())) * 1024;
  }
  return 0;
}

}  // namespace

std::int64_t current_rss_bytes() { return status_field_bytes("VmRSS:"); }

std::int64_t peak_rss_bytes() { return status_field_bytes("VmHWM:"); }

bool reset_peak_rss() {
  // Large blocks come from mmap and go back to the kernel when freed (glibc would otherwise
  // raise the threshold after the first free and keep later blocks resident), so every point
  // starts from the same resident set.
  static const bool fixed_threshold = mallopt(M_MMAP_THRESHOLD, 256 * 1024) == 1;
  (void)fixed_threshold;
  malloc_trim(0);
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

}  // namespace attn::harness
