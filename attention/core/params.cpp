#include "attention/core/params.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>
#include <system_error>

namespace attn {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool valid_identifier(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Parses the whole of `text` as a number of the given kind, or returns false.
bool parse_number(std::string_view text, ParamKind kind, double& value) {
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (kind == ParamKind::kInteger) {
    long long v = 0;
    auto [ptr, ec] = std::from_chars(first, last, v);
    if (ec != std::errc() || ptr != last) return false;
    if (std::llabs(v) > (1LL << 53)) return false;  // must be exact in a double
    value = static_cast<double>(v);
    return true;
  }
  auto [ptr, ec] = std::from_chars(first, last, value);
  return ec == std::errc() && ptr == last && std::isfinite(value);
}

}  // namespace

std::string ParamInfo::format(double value) const {
  char buf[64];
  if (kind == ParamKind::kInteger) {
    auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(value));
    return std::string(buf, ptr);
  }
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, value);  // shortest round trip
  return std::string(buf, ptr);
}

std::string ParamInfo::range() const {
  return std::string(kind == ParamKind::kInteger ? "an integer" : "a number") + " in [" +
         format(min) + ", " + format(max) + "]";
}

SpecText split_spec(std::string_view spec) {
  spec = trim(spec);
  SpecText out;
  const auto colon = spec.find(':');
  out.name = std::string(trim(spec.substr(0, colon)));
  if (!valid_identifier(out.name))
    throw std::invalid_argument("variant spec '" + std::string(spec) +
                                "': expected a variant name (letters, digits, '_'), as in "
                                "'sliding_window:left=128,right=0'");
  if (colon == std::string_view::npos) return out;
  std::string_view rest = spec.substr(colon + 1);
  if (trim(rest).empty()) return out;  // "name:" is the same as "name"
  while (true) {
    const auto comma = rest.find(',');
    const std::string_view item = trim(rest.substr(0, comma));
    const auto eq = item.find('=');
    if (eq == std::string_view::npos)
      throw std::invalid_argument("variant spec '" + std::string(spec) + "': '" +
                                  std::string(item) + "' is not of the form key=value");
    const std::string key(trim(item.substr(0, eq)));
    const std::string value(trim(item.substr(eq + 1)));
    if (!valid_identifier(key) || value.empty())
      throw std::invalid_argument("variant spec '" + std::string(spec) + "': '" +
                                  std::string(item) + "' is not of the form key=value");
    for (const auto& [k, v] : out.assignments)
      if (k == key)
        throw std::invalid_argument("variant spec '" + std::string(spec) + "': parameter '" + key +
                                    "' is given twice");
    out.assignments.emplace_back(key, value);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return out;
}

VariantConfig::VariantConfig(std::string name, ParamSchema schema,
                             const std::vector<std::pair<std::string, std::string>>& assignments)
    : name_(std::move(name)), schema_(std::move(schema)) {
  values_.reserve(schema_.size());
  for (const auto& info : schema_) values_.push_back(info.default_value);
  for (const auto& [key, text] : assignments) {
    std::size_t i = 0;
    while (i < schema_.size() && schema_[i].key != key) ++i;
    if (i == schema_.size()) {
      std::string allowed;
      for (const auto& info : schema_) allowed += (allowed.empty() ? "" : ", ") + info.key;
      throw std::invalid_argument(
          "variant '" + name_ + "' has no parameter '" + key + "'; " +
          (allowed.empty() ? "it takes no parameters" : "allowed: " + allowed));
    }
    const ParamInfo& info = schema_[i];
    double value = 0;
    if (!parse_number(text, info.kind, value) || value < info.min || value > info.max)
      throw std::invalid_argument("variant '" + name_ + "': parameter '" + key + "' must be " +
                                  info.range() + ", got '" + text + "'");
    values_[i] = value;
  }
}

std::size_t VariantConfig::index_of(std::string_view key) const {
  for (std::size_t i = 0; i < schema_.size(); ++i)
    if (schema_[i].key == key) return i;
  throw std::logic_error("variant '" + name_ + "' reads undeclared parameter '" + std::string(key) +
                         "'");
}

std::int64_t VariantConfig::integer(std::string_view key) const {
  return static_cast<std::int64_t>(values_[index_of(key)]);
}

double VariantConfig::real(std::string_view key) const { return values_[index_of(key)]; }

std::string VariantConfig::canonical_params() const {
  std::string out;
  for (std::size_t i = 0; i < schema_.size(); ++i) {
    if (i) out += ',';
    out += schema_[i].key + '=' + schema_[i].format(values_[i]);
  }
  return out;
}

std::string VariantConfig::spec() const {
  const std::string params = canonical_params();
  return params.empty() ? name_ : name_ + ':' + params;
}

}  // namespace attn
