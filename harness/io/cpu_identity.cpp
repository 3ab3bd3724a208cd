#include "harness/io/cpu_identity.hpp"

#include <charconv>
#include <fstream>
#include <iterator>
#include <map>

namespace attn::harness {
namespace {

struct ModelRange {
  const char* vendor;
  int family;
  int first_model;
  int last_model;
  const char* uarch;
};

// The first entry that matches wins, so single models come before the range around them.
// AMD: the Zen generations of Linux's arch/x86/kernel/cpu/amd.c and of LLVM's host CPU
// detection, a model either one names and the other does not contradict (family 0x1A models
// 0x50-0x5F are Zen 6 in one and Zen 5 in the other: unknown here); Zen+ is the two Zen-range
// models sold as such (Pinnacle Ridge, Picasso). Intel: Linux's asm/intel-family.h. Model 0x55
// is one number for Skylake-SP, Cascade Lake and Cooper Lake, which only the stepping and the
// ISA tell apart.
constexpr ModelRange kModelRanges[] = {
    {"AuthenticAMD", 0x17, 0x08, 0x08, "Zen+"},
    {"AuthenticAMD", 0x17, 0x18, 0x18, "Zen+"},
    {"AuthenticAMD", 0x17, 0x00, 0x2F, "Zen"},
    {"AuthenticAMD", 0x17, 0x50, 0x5F, "Zen"},
    {"AuthenticAMD", 0x17, 0x30, 0x4F, "Zen 2"},
    {"AuthenticAMD", 0x17, 0x60, 0x7F, "Zen 2"},
    {"AuthenticAMD", 0x17, 0x84, 0x87, "Zen 2"},
    {"AuthenticAMD", 0x17, 0x90, 0x9F, "Zen 2"},
    {"AuthenticAMD", 0x17, 0xA0, 0xAF, "Zen 2"},
    {"AuthenticAMD", 0x19, 0x00, 0x0F, "Zen 3"},
    {"AuthenticAMD", 0x19, 0x20, 0x5F, "Zen 3"},
    {"AuthenticAMD", 0x19, 0x10, 0x1F, "Zen 4"},
    {"AuthenticAMD", 0x19, 0x60, 0xAF, "Zen 4"},
    {"AuthenticAMD", 0x1A, 0x00, 0x4F, "Zen 5"},
    {"AuthenticAMD", 0x1A, 0x60, 0x7F, "Zen 5"},
    {"GenuineIntel", 6, 0x55, 0x55, "Skylake-SP/Cascade Lake/Cooper Lake"},
    {"GenuineIntel", 6, 0x6A, 0x6A, "Ice Lake-SP"},
    {"GenuineIntel", 6, 0x6C, 0x6C, "Ice Lake-D"},
    {"GenuineIntel", 6, 0x8F, 0x8F, "Sapphire Rapids"},
    {"GenuineIntel", 6, 0xCF, 0xCF, "Emerald Rapids"},
    {"GenuineIntel", 6, 0xAD, 0xAE, "Granite Rapids"},
    {"GenuineIntel", 6, 0x7D, 0x7E, "Ice Lake"},
    {"GenuineIntel", 6, 0x8C, 0x8D, "Tiger Lake"},
    {"GenuineIntel", 6, 0x97, 0x97, "Alder Lake"},
    {"GenuineIntel", 6, 0x9A, 0x9A, "Alder Lake"},
    {"GenuineIntel", 6, 0xB7, 0xB7, "Raptor Lake"},
    {"GenuineIntel", 6, 0xBA, 0xBA, "Raptor Lake"},
    {"GenuineIntel", 6, 0xBF, 0xBF, "Raptor Lake"},
};

std::string_view trimmed(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
}

// "key<tabs>: value" lines, the first of each key: the first processor's, since every block
// repeats the same keys.
std::map<std::string, std::string, std::less<>> first_fields(std::string_view text) {
  std::map<std::string, std::string, std::less<>> fields;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    fields.emplace(trimmed(line.substr(0, colon)), trimmed(line.substr(colon + 1)));
  }
  return fields;
}

std::optional<int> decimal(const std::string& text) {
  int value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value < 0)
    return std::nullopt;
  return value;
}

bool has_word(std::string_view words, std::string_view word) {
  while (!words.empty()) {
    const std::size_t start = words.find_first_not_of(' ');
    if (start == std::string_view::npos) return false;
    words.remove_prefix(start);
    const std::size_t end = words.find(' ');
    if (words.substr(0, end) == word) return true;
    words.remove_prefix(end == std::string_view::npos ? words.size() : end);
  }
  return false;
}

}  // namespace

std::string CpuIdentity::family_model_stepping() const {
  if (!family && !model && !stepping) return "unknown";
  auto number = [](const std::optional<int>& n) { return n ? std::to_string(*n) : "?"; };
  return number(family) + "/" + number(model) + "/" + number(stepping);
}

std::string x86_microarchitecture(std::string_view vendor, int family, int model) {
  for (const ModelRange& range : kModelRanges)
    if (vendor == range.vendor && family == range.family && model >= range.first_model &&
        model <= range.last_model)
      return range.uarch;
  return "unknown";
}

CpuIdentity parse_cpu_identity(std::string_view cpuinfo) {
  const auto fields = first_fields(cpuinfo);
  auto field = [&](std::string_view key) -> std::string {
    const auto it = fields.find(key);
    return it == fields.end() ? "" : it->second;
  };
  CpuIdentity id;
  if (const std::string vendor = field("vendor_id"); !vendor.empty()) id.vendor = vendor;
  id.family = decimal(field("cpu family"));
  id.model = decimal(field("model"));
  id.stepping = decimal(field("stepping"));
  if (id.family && id.model) id.uarch = x86_microarchitecture(id.vendor, *id.family, *id.model);
  const std::string flags = field("flags");
  for (const char* feature : kKernelIsaFeatures)
    if (has_word(flags, feature)) id.isa += (id.isa.empty() ? "" : " ") + std::string(feature);
  // Some hypervisors report an Intel model number the table does not hold, or one of a client
  // part (0xA7, Rocket Lake) while passing AMX through: AMX itself dates the server core.
  if (id.uarch == "unknown" && id.vendor == "GenuineIntel" && has_word(flags, "amx_tile"))
    id.uarch = "Sapphire Rapids or later (by AMX)";
  return id;
}

const CpuIdentity& cpu_identity() {
  static const CpuIdentity identity = [] {
    std::ifstream in("/proc/cpuinfo");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return parse_cpu_identity(text);
  }();
  return identity;
}

std::string cpu_title(std::string_view model_name, std::string_view uarch,
                      std::string_view family_model_stepping) {
  std::string details;
  for (const std::string_view part : {uarch, family_model_stepping})
    if (!part.empty() && part != "unknown")
      details += (details.empty() ? "" : ", ") + std::string(part);
  std::string title(model_name);
  if (details.empty()) return title;
  return title + (title.empty() ? "(" : " (") + details + ")";
}

}  // namespace attn::harness
