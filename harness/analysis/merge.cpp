#include "harness/analysis/merge.hpp"

#include <boost/program_options.hpp>

#include <filesystem>
#include <optional>
#include <ostream>
#include <set>

#include "harness/analysis/compare.hpp"
#include "harness/io/csv.hpp"
#include "harness/cli/file_arguments.hpp"
#include "harness/cli/options.hpp"

namespace attn::harness {
namespace {

namespace po = boost::program_options;

constexpr const char* kUsage =
    "Usage: attnbench merge A.csv B.csv ... --out ALL.csv\n"
    "Checks that every input has the suite's header and well-formed rows, then appends all rows,\n"
    "in input order, to --out (created with the header if new; an existing --out must have the\n"
    "same header). Nothing is written if any input is rejected. An input from before the\n"
    "kv_heads, query_len and min_bytes columns is read as square points and written with the\n"
    "current header, which is how such a file is brought up to date.";

struct MergeOptions {
  std::vector<std::string> inputs;
  std::string out;
};

std::optional<MergeOptions> parse_merge_options(const std::vector<std::string>& args,
                                                std::ostream& out) {
  MergeOptions options;
  po::options_description visible("Merge options");
  visible.add_options()  //
      ("out", po::value(&options.out)->value_name("ALL.csv"),
       "the results file to write; must not be one of the inputs")("help,h", "show this help");
  if (!parse_options_and_files(args, visible, kUsage, options.inputs, out)) return std::nullopt;
  if (options.inputs.empty()) throw UsageError("merge needs at least one input file");
  if (options.out.empty()) throw UsageError("merge needs --out ALL.csv");
  return options;
}

// Same file under another name too (./a.csv, a symlink, a hard link): appending a file to
// itself would read rows it is writing.
bool same_file(const std::filesystem::path& a, const std::filesystem::path& b) {
  std::error_code error;
  if (std::filesystem::equivalent(a, b, error)) return true;
  const auto canonical_a = std::filesystem::weakly_canonical(a, error);
  const auto canonical_b = std::filesystem::weakly_canonical(b, error);
  return !canonical_a.empty() && canonical_a == canonical_b;
}

}  // namespace

int merge_command(const std::vector<std::string>& args, std::ostream& out) {
  const std::optional<MergeOptions> options = parse_merge_options(args, out);
  if (!options) return 0;
  for (const std::string& input : options->inputs)
    if (same_file(options->out, input))
      throw UsageError("--out '" + options->out + "' is also the input '" + input +
                       "'; merge into a new file");

  // Read everything first, so a bad input leaves --out untouched.
  std::vector<std::vector<ResultRow>> contents;
  std::vector<std::string> notes;
  for (const std::string& input : options->inputs) {
    std::size_t torn_bytes = 0;
    contents.push_back(read_results_csv(input, &torn_bytes));
    if (torn_bytes)
      notes.push_back("note: " + input + " ends in a row torn by an interrupted write (" +
                      std::to_string(torn_bytes) + " bytes without a newline); not merged\n");
  }

  CsvWriter writer(options->out);
  std::set<ResultKey> seen;
  std::size_t written = 0, repeated = 0;
  for (const auto& rows : contents)
    for (const ResultRow& row : rows) {
      writer.write(row);
      ++written;
      repeated += !seen.insert(result_key(row)).second;
    }
  out << "merged " << written << " row" << (written == 1 ? "" : "s") << " from "
      << options->inputs.size() << " file" << (options->inputs.size() == 1 ? "" : "s") << " into "
      << options->out << "\n";
  for (const std::string& note : notes) out << note;
  // Not an error: a rerun of a point is a legitimate row, and compare uses the last one.
  if (repeated)
    out << "note: " << repeated
        << " merged row(s) repeat a point seen earlier in the inputs; compare uses the last\n";
  return 0;
}

}  // namespace attn::harness
