#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace attn::harness {

// Which CPU measured a row, exactly. Under a hypervisor the model name can be just "AMD EPYC"
// for Zen 3, Zen 4 and Zen 5 alike; the vendor's family, model and stepping numbers cannot.
struct CpuIdentity {
  std::string vendor = "unknown";  // vendor_id: AuthenticAMD, GenuineIntel, ...
  // As /proc/cpuinfo shows them, in decimal: the kernel has already added CPUID's extended family
  // (when the base family is 0xF) and extended model (when the base family is 6 or 0xF).
  std::optional<int> family;
  std::optional<int> model;
  std::optional<int> stepping;
  std::string uarch = "unknown";  // "Zen 3", "Sapphire Rapids", ...: see x86_microarchitecture
  std::string isa;                // the kKernelIsaFeatures this CPU has, space-separated

  // "25/1/1" (decimal); a number cpuinfo lacks is "?", and all three lacking is "unknown".
  std::string family_model_stepping() const;
};

// The instruction-set features the attention kernels can use, by their /proc/cpuinfo names, in
// the order CpuIdentity::isa lists them.
inline constexpr std::array<const char*, 12> kKernelIsaFeatures = {
    "avx2",        "fma",         "avx512f",  "avx512bw", "avx512vl", "avx512_bf16",
    "avx512_fp16", "avx512_vnni", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8"};

// The identity in the text of /proc/cpuinfo (its first processor). Text without the x86 fields,
// such as an aarch64 or empty cpuinfo, gives "unknown" vendor and uarch and no numbers or ISA.
CpuIdentity parse_cpu_identity(std::string_view cpuinfo);

// The microarchitecture of an x86 vendor's family and model, from a small table of the parts
// the suite meets (AMD Zen 1 to 5, Intel server and client cores since Skylake-SP); "unknown"
// for anything else, rather than a guess from the nearest entry.
std::string x86_microarchitecture(std::string_view vendor, int family, int model);

// This machine's identity, read from /proc/cpuinfo once.
const CpuIdentity& cpu_identity();

// "AMD EPYC (Zen 3, 25/1/1)": the model name with the microarchitecture and family/model/stepping
// in parentheses, leaving out those that are unknown or empty (older CSVs have neither).
std::string cpu_title(std::string_view model_name, std::string_view uarch,
                      std::string_view family_model_stepping);

}  // namespace attn::harness
