#include "harness/analysis/merge.hpp"

#include <filesystem>
#include <ostream>
#include <set>

#include "harness/analysis/compare.hpp"
#include "harness/analysis/sweep_coverage.hpp"
#include "harness/io/csv.hpp"
#include "harness/sweep/usage_error.hpp"

namespace attn::harness {
namespace {

// Same file under another name too (./a.csv, a symlink, a hard link): appending a file to
// itself would read rows it is writing.
bool same_file(const std::filesystem::path& a, const std::filesystem::path& b) {
  std::error_code error;
  if (std::filesystem::equivalent(a, b, error)) return true;
  const auto canonical_a = std::filesystem::weakly_canonical(a, error);
  const auto canonical_b = std::filesystem::weakly_canonical(b, error);
  return !canonical_a.empty() && canonical_a == canonical_b;
}

constexpr std::size_t kListed = 20;  // items listed before "... and K more"

// merge --expect: the parts of one sweep, each item exactly once.
int merge_expected(const MergeOptions& options, std::ostream& out) {
  std::vector<PartFile> files;
  for (const std::string& input : options.inputs) files.push_back(read_part_file(input));
  const SweepPlan plan = make_sweep_plan(
      options.expected.definition,
      shard_count_of_parts(files, options.num_shards, options.expected.config_shards));
  const SweepCoverage coverage = match_parts(plan, files);

  if (!coverage.foreign.empty()) {
    out << "merge: " << coverage.foreign.size() << " row(s) are not items of "
        << options.expected.name() << " (another config, or options changed since):\n";
    for (std::size_t n = 0; n < coverage.foreign.size() && n < kListed; ++n) {
      const ResultRow& row = files[coverage.foreign[n].file].rows[coverage.foreign[n].row];
      out << "  " << where(files, coverage.foreign[n]) << ": " << point_summary(row) << "  "
          << row.spec() << "\n";
    }
    out << "nothing written\n";
    return 1;
  }
  const std::vector<Conflict> conflicts = find_conflicts(coverage, files);
  if (!conflicts.empty()) {
    out << "merge: " << conflicts.size()
        << " item(s) were measured twice with different results; keep one of each pair:\n";
    for (std::size_t n = 0; n < conflicts.size() && n < kListed; ++n)
      out << "  " << describe_item(plan, conflicts[n].item) << ": "
          << where(files, conflicts[n].first) << " and " << where(files, conflicts[n].second)
          << "\n";
    out << "nothing written\n";
    return 1;
  }
  std::vector<std::size_t> missing;
  std::size_t copies = 0, superseded = 0, errors = 0;
  for (std::size_t i = 0; i < plan.items.size(); ++i) {
    const auto& refs = coverage.rows_of_item[i];
    if (refs.empty()) {
      missing.push_back(i);
      continue;
    }
    const ItemState state = coverage.state(files, i);
    errors += state == ItemState::kError;
    // Rows beyond one per item that are not failed attempts an ok row replaced: copies (their
    // ok rows are identical, or find_conflicts would have stopped us) or repeated failures.
    std::size_t failed = 0;
    for (const RowRef& ref : refs) {
      const bool ok = files[ref.file].rows[ref.row].status == kStatusOk;
      failed += state == ItemState::kDone && !ok;
    }
    superseded += failed;
    copies += refs.size() - 1 - failed;
  }
  if (!missing.empty()) {
    out << "merge: " << missing.size() << " of " << plan.items.size()
        << " items of the sweep have no row:\n";
    for (std::size_t n = 0; n < missing.size() && n < kListed; ++n)
      out << "  shard " << plan.shard_of[missing[n]] << "/" << plan.num_shards << "  "
          << describe_item(plan, missing[n]) << "\n";
    if (missing.size() > kListed) out << "  ... and " << missing.size() - kListed << " more\n";
    if (!options.allow_missing) {
      out << "nothing written; 'attnbench status' with the same parts and sweep prints the "
             "commands that measure them, or give --allow-missing\n";
      return 1;
    }
  }

  CsvWriter writer(options.out);
  std::size_t written = 0;
  for (std::size_t i = 0; i < plan.items.size(); ++i) {
    if (coverage.rows_of_item[i].empty()) continue;
    const RowRef ref = coverage.chosen(files, i);
    writer.write(files[ref.file].rows[ref.row]);
    ++written;
  }
  out << "merged " << written << " of " << plan.items.size() << " items from " << files.size()
      << " file" << (files.size() == 1 ? "" : "s") << " into " << options.out
      << (missing.empty() ? "" : " (" + std::to_string(missing.size()) + " missing)") << "\n";
  if (superseded)
    out << "note: " << superseded
        << " skipped or error row(s) were left out for the ok row of a later attempt\n";
  if (copies) out << "note: " << copies << " repeated row(s) of an item were merged once\n";
  if (errors) out << "note: " << errors << " item(s) have only an error row\n";
  return 0;
}

}  // namespace

void check_out_is_not_an_input(const MergeOptions& options) {
  for (const std::string& input : options.inputs)
    if (same_file(options.out, input))
      throw UsageError("--out '" + options.out + "' is also the input '" + input +
                       "'; merge into a new file");
}

int merge_results(const MergeOptions& options, std::ostream& out) {
  check_out_is_not_an_input(options);
  if (options.expected.given()) return merge_expected(options, out);

  // Read everything first, so a bad input leaves --out untouched.
  std::vector<std::vector<ResultRow>> contents;
  std::vector<std::string> notes;
  for (const std::string& input : options.inputs) {
    std::size_t torn_bytes = 0;
    contents.push_back(read_results_csv(input, &torn_bytes));
    if (torn_bytes)
      notes.push_back("note: " + input + " ends in a row torn by an interrupted write (" +
                      std::to_string(torn_bytes) + " bytes without a newline); not merged\n");
  }

  CsvWriter writer(options.out);
  std::set<ResultKey> seen;
  std::size_t written = 0, repeated = 0;
  for (const auto& rows : contents)
    for (const ResultRow& row : rows) {
      writer.write(row);
      ++written;
      repeated += !seen.insert(result_key(row)).second;
    }
  out << "merged " << written << " row" << (written == 1 ? "" : "s") << " from "
      << options.inputs.size() << " file" << (options.inputs.size() == 1 ? "" : "s") << " into "
      << options.out << "\n";
  for (const std::string& note : notes) out << note;
  // Not an error: a rerun of a point is a legitimate row, and compare uses the last one.
  if (repeated)
    out << "note: " << repeated
        << " merged row(s) repeat a point seen earlier in the inputs; compare uses the last\n";
  return 0;
}

}  // namespace attn::harness
