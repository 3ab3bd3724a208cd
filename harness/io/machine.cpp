#include "harness/io/machine.hpp"

#include <sched.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <thread>

#include "attention/numeric/gemm.hpp"
#include "git_revision.hpp"  // generated at build time
#include "harness/io/cpu_identity.hpp"

namespace attn::harness {
namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0 || line.rfind("Model", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        if (!value.empty()) return value;
      }
    }
  }
  return "unknown";
}

std::string compiler_version() {
#if defined(__clang__)
  return "Clang " __clang_version__;
#elif defined(__GNUC__)
  return "GCC " __VERSION__;
#else
  return "unknown";
#endif
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "unknown";
  return name;
}

}  // namespace

const MachineContext& machine_context() {
  static const MachineContext context{.git_revision = ATTN_GIT_REVISION,
                                      .cpu = cpu_model(),
                                      .cpu_vendor = cpu_identity().vendor,
                                      .cpu_family_model = cpu_identity().family_model_stepping(),
                                      .cpu_uarch = cpu_identity().uarch,
                                      .cpu_isa = cpu_identity().isa,
                                      .blas_core = blas_core_name(),
                                      .compiler = compiler_version(),
                                      .build_type = ATTN_BUILD_TYPE,
                                      .host = host_name()};
  return context;
}

std::string utc_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int available_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  const unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}

std::int64_t available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::int64_t value = 0;
  std::string unit;
  while (in >> key >> value) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return value * 1024;
  }
  return 0;
}

}  // namespace attn::harness
