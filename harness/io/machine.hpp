#pragma once

#include <cstdint>
#include <string>

namespace attn::harness {

// What a CSV row needs so that anyone can tell where and how it was measured.
struct MachineContext {
  std::string git_revision;  // of the source tree the binary was built from
  std::string cpu;           // model name from /proc/cpuinfo
  // What `cpu` may not say (see cpu_identity.hpp): vendor, "family/model/stepping",
  // microarchitecture and the kernel-relevant ISA features.
  std::string cpu_vendor;
  std::string cpu_family_model;
  std::string cpu_uarch;
  std::string cpu_isa;
  std::string blas_core;   // the kernel family OpenBLAS picked at run time
  std::string compiler;    // e.g. "GCC 12.2.0"
  std::string build_type;  // CMake build type
  std::string host;        // the node's host name: a sweep's shards run on many
};

const MachineContext& machine_context();

// Now, as "2026-11-22T03:04:05Z".
std::string utc_timestamp();

// Hardware threads this process may run on.
int available_cores();

// Bytes the kernel says can be allocated without swapping (MemAvailable), or 0 if unknown.
std::int64_t available_memory_bytes();

}  // namespace attn::harness
