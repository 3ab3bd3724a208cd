#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "harness/io/result_row.hpp"

namespace attn::harness {

// A row as the CSV writer formats it, column by column. Analysis looks columns up by name
// here rather than by struct field, so a column the writer gains (dtype, kernel, ...) shows up
// in advise and report without changes, and a column an older file lacks is simply absent.
using RowFields = std::map<std::string, std::string, std::less<>>;
RowFields row_fields(const ResultRow& row);

// Splits one CSV line written by csv_line() into its fields (quotes removed).
std::vector<std::string> split_csv_line(std::string_view line);

// Whether the writer has this column (the file being read may be older and not have had it).
bool has_column(std::string_view name);

}  // namespace attn::harness
