#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace attn {

enum class ParamKind { kInteger, kReal };

// One parameter a variant accepts: its key, type, default and inclusive allowed range.
struct ParamInfo {
  std::string key;
  ParamKind kind = ParamKind::kInteger;
  double default_value = 0;
  double min = 0;
  double max = 0;
  std::string help;

  std::string format(double value) const;  // integers without a decimal point
  std::string range() const;               // "integer in [0, 1048576]"
};
using ParamSchema = std::vector<ParamInfo>;

// A spec string split into its parts: "name:key=value,key=value".
struct SpecText {
  std::string name;
  std::vector<std::pair<std::string, std::string>> assignments;
};
// Splits a spec; throws std::invalid_argument on empty names, missing '=' or repeated keys.
SpecText split_spec(std::string_view spec);

// A variant's name and the full set of its parameter values, validated against its schema.
// Every key of the schema has a value (given or default), so canonical() is complete.
class VariantConfig {
 public:
  // Throws std::invalid_argument naming the key and the allowed range for unknown keys,
  // non-numeric or out-of-range values.
  VariantConfig(std::string name, ParamSchema schema,
                const std::vector<std::pair<std::string, std::string>>& assignments);

  const std::string& name() const { return name_; }
  const ParamSchema& schema() const { return schema_; }
  std::int64_t integer(std::string_view key) const;
  double real(std::string_view key) const;
  // "key=value,key=value" in schema order; parses back to an identical config.
  std::string canonical_params() const;
  // "name" or "name:key=value,...".
  std::string spec() const;

 private:
  std::size_t index_of(std::string_view key) const;

  std::string name_;
  ParamSchema schema_;
  std::vector<double> values_;  // parallel to schema_
};

}  // namespace attn
