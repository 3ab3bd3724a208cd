#include "harness/analysis/row_fields.hpp"

#include <algorithm>

#include "harness/io/csv.hpp"

namespace attn::harness {

std::vector<std::string> split_csv_line(std::string_view line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

RowFields row_fields(const ResultRow& row) {
  const std::vector<std::string>& names = csv_columns();
  const std::vector<std::string> values = split_csv_line(csv_line(row));
  RowFields fields;
  for (std::size_t i = 0; i < names.size() && i < values.size(); ++i)
    fields.emplace(names[i], values[i]);
  return fields;
}

bool has_column(std::string_view name) {
  const auto& names = csv_columns();
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace attn::harness
