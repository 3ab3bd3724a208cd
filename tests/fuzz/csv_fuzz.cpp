// The results-CSV reader on arbitrary text: either rows or std::invalid_argument. Whatever it
// accepts, the writer's lines for those rows must be accepted again (what attnbench writes it
// can read back for compare, merge and --resume).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#include "harness/io/csv.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<attn::harness::ResultRow> rows;
  try {
    rows = attn::harness::parse_results_csv(text, "fuzz.csv");
  } catch (const std::invalid_argument&) {
    return 0;
  }
  std::string rewritten = attn::harness::csv_header_line() + "\n";
  for (const auto& row : rows) rewritten += attn::harness::csv_line(row) + "\n";
  try {
    if (attn::harness::parse_results_csv(rewritten, "rewritten.csv").size() != rows.size())
      std::abort();
  } catch (const std::invalid_argument&) {
    std::abort();
  }
  return 0;
}
