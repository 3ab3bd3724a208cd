#include "harness/cli/analysis_commands.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <ostream>

#include "harness/analysis/compare.hpp"
#include "harness/analysis/merge.hpp"
#include "harness/analysis/report.hpp"
#include "harness/analysis/status.hpp"
#include "harness/analysis/sweep_coverage.hpp"
#include "harness/cli/file_arguments.hpp"
#include "harness/cli/options.hpp"
#include "harness/sweep/shard_selection.hpp"
#include "harness/sweep/usage_error.hpp"

namespace attn::harness {
namespace {

namespace po = boost::program_options;

constexpr const char* kCompareUsage =
    "Usage: attnbench compare BASE.csv NEW.csv [options]\n"
    "Joins the rows with status ok on (variant, params, batch, heads, kv_heads, seq_len,\n"
    "query_len, head_dim, dtype, causal, shared_qk, input, seed, scale, threads) and prints\n"
    "the time ratio new/base and the accuracy change of each. A row is a REGRESSION when it is "
    "slower\n"
    "by more than --threshold and both times exceed --min-time-ms; an improvement when faster\n"
    "by more than --threshold under the same floor. When a file repeats a key, its last row is\n"
    "used (an appended rerun wins). Rows of a CSV from before kv_heads and query_len are square,\n"
    "rows from before dtype are fp32.";

constexpr const char* kMergeUsage =
    "Usage: attnbench merge A.csv B.csv ... --out ALL.csv\n"
    "       attnbench merge --expect CONFIG PART.csv ... --out ALL.csv [--allow-missing]\n"
    "                       [--num-shards N] [-- SWEEP OPTIONS]\n"
    "Checks that every input has the suite's header and well-formed rows, then appends all rows,\n"
    "in input order, to --out (created with the header if new; an existing --out must have the\n"
    "same header). Nothing is written if any input is rejected. An input from before the\n"
    "kv_heads, query_len and min_bytes columns is read as square points and written with the\n"
    "current header, which is how such a file is brought up to date.\n"
    "\n"
    "With --expect CONFIG (a sweep's config file), or the sweep's options after -- (as given to\n"
    "attnbench sweep), the inputs are the parts of that sweep: merge\n"
    "checks that they hold every (point, variant) of it, lists the missing ones with the shard\n"
    "that owns each, refuses rows of other sweeps and two different ok measurements of one item\n"
    "(naming both files and lines), and writes one row per item in the sweep's order: its ok row,\n"
    "else its last row. Missing items stop it (exit 1, nothing written) unless --allow-missing.";

constexpr const char* kStatusUsage =
    "Usage: attnbench status --expect CONFIG PART.csv ... [--num-shards N] [-- SWEEP OPTIONS]\n"
    "Matches the parts' rows against every (point, variant) of the sweep CONFIG defines (or the\n"
    "sweep options after --, as given to attnbench sweep, with or without --expect) and\n"
    "prints done / skipped / error / missing per shard, the items that are missing or failed,\n"
    "and the commands that measure them. Exit status 0 when every item is done or skipped,\n"
    "1 otherwise.";

constexpr const char* kAdviseUsage =
    "Usage: attnbench advise FILE.csv... [options]\n"
    "For each group of points (default: seq_len and every other point column whose values\n"
    "differ in the files), the fastest variant that meets every bound, its median time, its\n"
    "speedup over --baseline, its recall, error and peak memory, and the runner-up. Variants\n"
    "whose min-max time ranges overlap are a tie and all are named. Then, per series of\n"
    "sequence lengths, from which N each sparse variant meets the bounds and beats the baseline.";

constexpr const char* kReportUsage =
    "Usage: attnbench report FILE.csv... --out REPORT.html [options]\n"
    "Writes one HTML file that opens offline in any browser: the machine and build context,\n"
    "the advice for the bounds below (as 'attnbench advise' prints it), the plot script's\n"
    "figures inline as SVG, every row in a table that sorts by any column (click a heading),\n"
    "each variant's definition, the skipped and error rows with their messages, and the command\n"
    "that reproduces the sweep.";

// A finite number, or nullopt.
std::optional<double> parse_number(const std::string& text) {
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() ||
      !std::isfinite(value))
    return std::nullopt;
  return value;
}

double parse_min_time(const std::string& text) {
  const std::optional<double> value = parse_number(text);
  if (!value || *value < 0)
    throw UsageError("--min-time-ms must be a number of milliseconds >= 0 like 0.05, got '" + text +
                     "'");
  return *value;
}

std::optional<CompareOptions> parse_compare_options(const std::vector<std::string>& args,
                                                    std::ostream& out) {
  std::string threshold = "5%";
  std::string min_time = "0.05";
  CompareOptions options;
  po::options_description visible("Compare options");
  visible.add_options()  //
      ("threshold", po::value(&threshold)->value_name("T"),
       "a row slower (faster) by more than this is a regression (improvement): a percentage "
       "like 5% or a fraction below 1 like 0.05 (default 5%)")(
          "min-time-ms", po::value(&min_time)->value_name("MS"),
          "only rows whose base and new times both exceed this many milliseconds are marked, so "
          "microsecond noise does not count (default 0.05)")(
          "fail-on-regression", po::bool_switch(&options.fail_on_regression),
          "exit with status 1 when any row is a regression")("help,h", "show this help");
  std::vector<std::string> files;
  if (!parse_options_and_files(args, visible, kCompareUsage, files, out)) return std::nullopt;
  if (files.size() != 2)
    throw UsageError("compare takes two files, BASE.csv and NEW.csv; got " +
                     std::to_string(files.size()));
  options.base = files[0];
  options.fresh = files[1];
  options.threshold = parse_threshold(threshold);
  options.min_time_ms = parse_min_time(min_time);
  return options;
}

// Moves the words after a "--" in `args` into `sweep_options`.
void split_off_sweep_options(std::vector<std::string>& args,
                             std::vector<std::string>& sweep_options) {
  const auto dashes = std::find(args.begin(), args.end(), "--");
  if (dashes == args.end()) return;
  sweep_options.assign(dashes + 1, args.end());
  args.erase(dashes, args.end());
}

// Parses and validates the sweep `expected` names, as `attnbench sweep` would.
void load_definition(ExpectedSweep& expected) {
  expected.definition = load_sweep_definition(expected.sweep_args(), expected.config_shards);
}

// --num-shards of merge and status, 0 when not given.
int given_num_shards(const std::string& text) {
  if (text.empty()) return 0;
  return resolve_shard_selection(text, std::nullopt, true,
                                 [](const char*) -> const char* { return nullptr; })
      .num_shards;
}

std::optional<MergeOptions> parse_merge_options(const std::vector<std::string>& command_args,
                                                std::ostream& out) {
  MergeOptions options;
  std::string num_shards;
  std::vector<std::string> args = command_args;
  split_off_sweep_options(args, options.expected.options);
  po::options_description visible("Merge options");
  visible.add_options()  //
      ("out", po::value(&options.out)->value_name("ALL.csv"),
       "the results file to write; must not be one of the inputs")(
          "expect", po::value(&options.expected.config)->value_name("CONFIG"),
          "the sweep's config file: check that the inputs hold each of its items exactly once")(
          "num-shards", po::value(&num_shards)->value_name("N"),
          "with --expect: the shard count of the parts (default: the config's num-shards, else "
          "the rows' shard column, else 1), to name the shard that owns a missing item")(
          "allow-missing", po::bool_switch(&options.allow_missing),
          "with --expect: write what there is even when items are missing")("help,h",
                                                                            "show this help");
  if (!parse_options_and_files(args, visible, kMergeUsage, options.inputs, out))
    return std::nullopt;
  if (options.inputs.empty()) throw UsageError("merge needs at least one input file");
  if (options.out.empty()) throw UsageError("merge needs --out ALL.csv");
  if (!options.expected.given() && (options.allow_missing || !num_shards.empty()))
    throw UsageError(std::string(options.allow_missing ? "--allow-missing" : "--num-shards") +
                     " needs --expect CONFIG (or the sweep's options after --), the sweep the "
                     "inputs are parts of");
  // In this order, the checks merge made when it parsed its own options: --out first, then the
  // sweep's definition, then --num-shards; the inputs are read after.
  check_out_is_not_an_input(options);
  if (options.expected.given()) load_definition(options.expected);
  options.num_shards = given_num_shards(num_shards);
  return options;
}

std::optional<AdviseFormat> parse_advise_format(const std::string& text) {
  if (text == "table") return AdviseFormat::kTable;
  if (text == "csv") return AdviseFormat::kCsv;
  if (text == "markdown") return AdviseFormat::kMarkdown;
  return std::nullopt;
}

}  // namespace

int compare_command(const std::vector<std::string>& args, std::ostream& out) {
  const std::optional<CompareOptions> options = parse_compare_options(args, out);
  if (!options) return 0;
  return compare_results(*options, out);
}

int merge_command(const std::vector<std::string>& args, std::ostream& out) {
  const std::optional<MergeOptions> options = parse_merge_options(args, out);
  if (!options) return 0;
  return merge_results(*options, out);
}

int status_command(const std::vector<std::string>& command_args, std::ostream& out) {
  std::vector<std::string> args = command_args;
  StatusOptions options;
  ExpectedSweep& expected = options.expected;
  split_off_sweep_options(args, expected.options);
  std::string& expect = expected.config;
  std::string num_shards_text;
  po::options_description visible("Status options");
  visible.add_options()  //
      ("expect", po::value(&expect)->value_name("CONFIG"),
       "the sweep's config file (as given to sweep --config)")(
          "num-shards", po::value(&num_shards_text)->value_name("N"),
          "the shard count the parts were measured with (default: the config's num-shards, "
          "else the count in the rows' shard column, else 1)")("help,h", "show this help");
  if (!parse_options_and_files(args, visible, kStatusUsage, options.inputs, out)) return 0;
  if (!expected.given())
    throw UsageError(
        "status needs --expect CONFIG, the sweep's config file, or the sweep's options after --");
  load_definition(expected);
  options.num_shards = given_num_shards(num_shards_text);
  return print_sweep_status(options, out);
}

int advise_command(const std::vector<std::string>& args, std::ostream& out) {
  AdviseOptionText text;
  std::string format = "table";
  po::options_description visible("Advise options");
  add_advise_options(visible, text);
  visible.add_options()("format", po::value(&format)->value_name("F"),
                        "table, csv or markdown (default table)")("help,h", "show this help");
  AdviseRequest request;
  if (!parse_options_and_files(args, visible, kAdviseUsage, request.files, out)) return 0;
  if (request.files.empty()) throw UsageError("advise needs at least one results CSV; see --help");
  const std::optional<AdviseFormat> parsed_format = parse_advise_format(format);
  if (!parsed_format)
    throw UsageError("--format must be table, csv or markdown; got '" + format + "'");
  request.format = *parsed_format;
  request.advise = parse_advise_options(text);
  return print_advice(request, out);
}

int report_command(const std::vector<std::string>& args, std::ostream& out) {
  AdviseOptionText text;
  ReportRequest request;
  po::options_description visible("Report options");
  visible.add_options()("out", po::value(&request.out)->value_name("REPORT.html"),
                        "the HTML file to write (required)");
  add_advise_options(visible, text);
  visible.add_options()("help,h", "show this help");
  if (!parse_options_and_files(args, visible, kReportUsage, request.files, out)) return 0;
  if (request.files.empty()) throw UsageError("report needs at least one results CSV; see --help");
  if (request.out.empty()) throw UsageError("report needs --out REPORT.html");
  request.advise = parse_advise_options(text);
  return write_report(request);
}

double parse_threshold(const std::string& text) {
  const bool is_percent = !text.empty() && text.back() == '%';
  const std::optional<double> value =
      parse_number(is_percent ? text.substr(0, text.size() - 1) : text);
  if (value && *value >= 0 && (is_percent ? *value <= 1000 : *value < 1))
    return is_percent ? *value / 100 : *value;
  throw UsageError(
      "--threshold must be a percentage like 5% (0% to 1000%) or a fraction below 1 like 0.05, "
      "got '" +
      text + "'");
}

void add_advise_options(po::options_description& options, AdviseOptionText& text) {
  options.add_options()  //
      ("min-recall", po::value(&text.min_recall)->value_name("R"),
       "mass_recall at least R, in [0, 1], or 'none' (default 0.99)")(
          "max-rel-err", po::value(&text.max_rel_err)->value_name("X"),
          "rel_err against full attention at most X >= 0 (default: no bound)")(
          "max-memory", po::value(&text.max_memory)->value_name("BYTES"),
          "peak_bytes at most this, e.g. 2GiB, 512M or 1073741824 (default: no bound)")(
          "baseline", po::value(&text.baseline)->value_name("VARIANT"),
          "the variant speedups are taken against, a name or a full spec (default flash)")(
          "by", po::value(&text.by)->value_name("COLUMNS"),
          "group by these columns, comma-separated, e.g. input,seq_len (default: seq_len and "
          "every point column that varies in the files)");
}

AdviseOptions parse_advise_options(const AdviseOptionText& text) {
  AdviseOptions o;
  if (text.min_recall == "none") {
    o.min_recall.reset();
  } else {
    const auto v = parse_number(text.min_recall);
    if (!v || !std::isfinite(*v) || *v < 0 || *v > 1)
      throw UsageError("--min-recall must be a fraction in [0, 1] like 0.99, or 'none'; got '" +
                       text.min_recall + "'");
    o.min_recall = *v;
  }
  if (!text.max_rel_err.empty()) {
    const auto v = parse_number(text.max_rel_err);
    if (!v || !std::isfinite(*v) || *v < 0)
      throw UsageError("--max-rel-err must be a number >= 0 like 0.01; got '" + text.max_rel_err +
                       "'");
    o.max_rel_err = *v;
  }
  if (!text.max_memory.empty()) {
    std::string bytes = text.max_memory;
    // 2GiB and 2GB mean what 2G means to --memory-limit: binary units.
    for (const char* unit : {"iB", "IB", "ib", "B", "b"}) {
      const std::string u = unit;
      if (bytes.size() > u.size() && bytes.compare(bytes.size() - u.size(), u.size(), u) == 0) {
        bytes.resize(bytes.size() - u.size());
        break;
      }
    }
    try {
      o.max_memory = parse_bytes("max-memory", bytes);
    } catch (const UsageError&) {
      throw UsageError("--max-memory: '" + text.max_memory +
                       "' is not a positive byte count such as 2GiB, 512M or 1073741824");
    }
  }
  if (!text.baseline.empty()) {
    o.baseline = text.baseline;
    o.baseline_required = true;
  }
  if (!text.by.empty()) {
    std::string column;
    for (std::size_t i = 0; i <= text.by.size(); ++i) {
      if (i == text.by.size() || text.by[i] == ',') {
        if (column.empty())
          throw UsageError("--by: empty column name in '" + text.by + "'; e.g. input,seq_len");
        o.by.push_back(column);
        column.clear();
      } else {
        column += text.by[i];
      }
    }
  }
  return o;
}

}  // namespace attn::harness
