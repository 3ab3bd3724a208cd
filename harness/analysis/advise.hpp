#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "harness/io/result_row.hpp"

namespace attn::harness {

// The bounds a variant must meet to be advised, and how rows are grouped.
struct AdviseOptions {
  std::optional<double> min_recall = 0.99;  // mass_recall >= this
  std::optional<double> max_rel_err;        // rel_err <= this
  std::optional<std::int64_t> max_memory;   // peak_bytes <= this
  std::string baseline = "flash";           // a variant name or a full spec
  bool baseline_required = false;           // given by the user: no row naming it is an error
  // Columns a group is defined by; empty: seq_len and every other point column whose values
  // differ between the rows.
  std::vector<std::string> by;
};

// One group's answer. Pointers point into the rows advise() was given.
struct GroupAdvice {
  std::vector<std::string> key;           // the values of AdviseResult::by
  std::vector<const ResultRow*> winners;  // the fastest qualifier, then those tied with it
  const ResultRow* runner_up = nullptr;   // the fastest qualifier not tied with the winners
  const ResultRow* baseline = nullptr;    // the baseline's row in the group, if measured
  bool only_exact = false;                // every qualifier attends every key
  std::size_t candidates = 0;             // ok rows in the group
};

struct AdviseResult {
  std::vector<std::string> by;
  std::vector<GroupAdvice> groups;
  std::vector<std::string> summary;  // one crossover sentence per series (group without seq_len)
  std::string bounds;                // the bounds in words, e.g. "mass_recall >= 0.99"
  std::string baseline;
};

// Groups the ok rows, picks the fastest variant meeting every bound in each group (ties by
// overlapping min-max time ranges are all named) and summarises crossovers along seq_len.
// Throws UsageError for a --by column the CSV does not have, or a required baseline no row
// names.
AdviseResult advise(const std::vector<ResultRow>& rows, const AdviseOptions& options);

// The advice as a table: a header row, then one row per group.
std::vector<std::vector<std::string>> advice_table(const AdviseResult& advice);

// Whether the row's key set is every key (its pairs equal full attention's at its shape).
bool attends_every_key(const ResultRow& row);

enum class AdviseFormat { kTable, kCsv, kMarkdown };

// What `attnbench advise` advises on (cli/ parses the command line into it).
struct AdviseRequest {
  std::vector<std::string> files;  // results CSVs, read in this order
  AdviseOptions advise;
  AdviseFormat format = AdviseFormat::kTable;
};

// Reads the files and prints the advice, its bounds and the crossover summary to `out`. Throws
// UsageError for a --by column the files do not have or a required baseline no row names, and
// std::invalid_argument for unreadable files; returns 0.
int print_advice(const AdviseRequest& request, std::ostream& out);

}  // namespace attn::harness
