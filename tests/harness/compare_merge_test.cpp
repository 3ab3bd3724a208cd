#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness/analysis/compare.hpp"
#include "harness/cli/analysis_commands.hpp"
#include "harness/cli/options.hpp"
#include "harness/io/csv.hpp"
#include "harness/sweep/sweep_config.hpp"
#include "harness/sweep/usage_error.hpp"
#include "tests/support/test_support.hpp"

namespace attn::harness {
namespace {

namespace fs = std::filesystem;

using attn::testing::temp_dir;

ResultRow ok_row(const std::string& variant, std::int64_t seq_len, double time_ms) {
  ResultRow r;
  r.variant = variant;
  r.params = variant == "sliding_window" ? "window=256" : "";
  r.batch = 1, r.heads = 8, r.kv_heads = 8, r.seq_len = seq_len, r.query_len = seq_len;
  r.head_dim = 64;
  r.causal = true;
  r.input = "gaussian";
  r.seed = 42;
  r.scale = 0.125f;
  r.threads = 1;
  r.reps = 5;
  r.time_ms = time_ms, r.time_ms_min = time_ms, r.time_ms_max = time_ms;
  r.gflops = 100 / time_ms;
  r.rel_err = 1e-3, r.mass_recall = 0.95;
  r.status = kStatusOk;
  return r;
}

ResultRow skipped_row(const std::string& variant, std::int64_t seq_len) {
  ResultRow r = ok_row(variant, seq_len, 1);
  r.time_ms.reset(), r.time_ms_min.reset(), r.time_ms_max.reset(), r.gflops.reset();
  r.rel_err.reset(), r.mass_recall.reset(), r.reps.reset();
  r.status = kStatusSkipped;
  r.message = "over the memory limit";
  return r;
}

std::string write_csv(const std::string& path, const std::vector<ResultRow>& rows) {
  CsvWriter writer(path);
  for (const ResultRow& row : rows) writer.write(row);
  return path;
}

struct CompareRun {
  int status = -1;
  std::string output;
};

CompareRun compare(const std::vector<std::string>& args) {
  std::ostringstream out;
  CompareRun run;
  run.status = compare_command(args, out);
  run.output = out.str();
  return run;
}

// The output line of the table row or list entry that mentions `needle`.
std::string line_with(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.find(needle) != std::string::npos) return line;
  return "";
}

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

TEST(CompareTest, PrintsTheRatioAndChangeOfEachJoinedRow) {
  const std::string dir = temp_dir();
  const auto base = write_csv(dir + "/base.csv", {ok_row("dense", 4096, 10.0)});
  const auto fresh = write_csv(dir + "/new.csv", {ok_row("dense", 4096, 8.0)});
  const CompareRun run = compare({base, fresh});
  EXPECT_EQ(run.status, 0);
  const std::string row = line_with(run.output, "dense  ");
  EXPECT_TRUE(contains(row, "N=4096 B1 H8 D64 causal gaussian seed=42 T1")) << run.output;
  EXPECT_TRUE(contains(row, "10.000")) << row;
  EXPECT_TRUE(contains(row, "8.000")) << row;
  EXPECT_TRUE(contains(row, "0.800")) << row;
  EXPECT_TRUE(contains(row, "-20.0%")) << row;
  EXPECT_TRUE(contains(row, "10.0 -> 12.5")) << row;  // GFLOP/s base -> new
  EXPECT_TRUE(contains(row, "improvement")) << row;
  EXPECT_TRUE(contains(run.output,
                       "1 compared, 0 regressions, 1 improvement, geometric-mean "
                       "ratio 0.800 (-20.0%)"))
      << run.output;
}

TEST(CompareTest, MarksRowsBeyondTheThresholdOnly) {
  const std::string dir = temp_dir();
  const auto base = write_csv(
      dir + "/base.csv",
      {ok_row("dense", 1024, 10), ok_row("flash", 1024, 10), ok_row("sliding_window", 1024, 10)});
  const auto fresh = write_csv(
      dir + "/new.csv",
      {ok_row("dense", 1024, 10.4), ok_row("flash", 1024, 11), ok_row("sliding_window", 1024, 9)});
  const CompareRun at_5 = compare({base, fresh, "--threshold", "5%"});
  EXPECT_FALSE(contains(line_with(at_5.output, "dense  "), "REGRESSION")) << at_5.output;
  EXPECT_TRUE(contains(line_with(at_5.output, "flash  "), "REGRESSION")) << at_5.output;
  EXPECT_TRUE(contains(line_with(at_5.output, "sliding_window:window=256"), "improvement"))
      << at_5.output;
  EXPECT_TRUE(contains(at_5.output, "3 compared, 1 regression, 1 improvement")) << at_5.output;

  // 0.03 as a fraction: the 4% slower row becomes a regression too.
  const CompareRun at_3 = compare({base, fresh, "--threshold", "0.03"});
  EXPECT_TRUE(contains(line_with(at_3.output, "dense  "), "REGRESSION")) << at_3.output;
  EXPECT_TRUE(contains(at_3.output, "3 compared, 2 regressions, 1 improvement")) << at_3.output;

  const CompareRun at_20 = compare({base, fresh, "--threshold", "20%"});
  EXPECT_TRUE(contains(at_20.output, "3 compared, 0 regressions, 0 improvements")) << at_20.output;
}

TEST(CompareTest, ThresholdAcceptsAPercentageOrAFraction) {
  EXPECT_DOUBLE_EQ(parse_threshold("5%"), 0.05);
  EXPECT_DOUBLE_EQ(parse_threshold("0.05"), 0.05);
  EXPECT_DOUBLE_EQ(parse_threshold("150%"), 1.5);
  EXPECT_DOUBLE_EQ(parse_threshold("0"), 0.0);
  for (const std::string bad : {"5", "-1%", "abc", "%", "", "5 %", "nan", "0.05x"}) {
    try {
      parse_threshold(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UsageError& e) {
      EXPECT_TRUE(contains(e.what(), "--threshold")) << e.what();
      EXPECT_TRUE(contains(e.what(), "like 5%")) << e.what();
    }
  }
}

TEST(CompareTest, RejectsBadOptionsAsUsageErrors) {
  const std::string dir = temp_dir();
  const auto file = write_csv(dir + "/a.csv", {ok_row("dense", 1024, 1)});
  EXPECT_THROW(compare({file, file, "--threshold", "fast"}), UsageError);
  EXPECT_THROW(compare({file, file, "--min-time-ms", "-1"}), UsageError);
  EXPECT_THROW(compare({file, file, "--no-such-option"}), UsageError);
  EXPECT_THROW(compare({file}), UsageError);
  EXPECT_THROW(compare({file, file, file}), UsageError);
  EXPECT_THROW(compare({file, dir + "/missing.csv"}), std::invalid_argument);
}

TEST(CompareTest, HelpPrintsUsageAndReturnsZero) {
  const CompareRun run = compare({"--help"});
  EXPECT_EQ(run.status, 0);
  EXPECT_TRUE(contains(run.output, "Usage: attnbench compare BASE.csv NEW.csv")) << run.output;
  EXPECT_TRUE(contains(run.output, "--fail-on-regression")) << run.output;
}

TEST(CompareTest, RowsUnderTheAbsoluteFloorAreNeverRegressions) {
  const std::string dir = temp_dir();
  // 0.010 -> 0.020 ms is twice as slow but microseconds: noise, not a regression.
  const auto base =
      write_csv(dir + "/base.csv", {ok_row("dense", 64, 0.010), ok_row("flash", 64, 0.04)});
  const auto fresh =
      write_csv(dir + "/new.csv", {ok_row("dense", 64, 0.020), ok_row("flash", 64, 0.08)});
  const CompareRun run = compare({base, fresh, "--fail-on-regression"});
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_TRUE(contains(line_with(run.output, "dense  "), "slower, under the floor")) << run.output;
  EXPECT_TRUE(contains(run.output, "2 compared, 0 regressions")) << run.output;

  // With the floor lowered below both flash times (but not dense's base), flash counts.
  const CompareRun low = compare({base, fresh, "--min-time-ms", "0.02", "--fail-on-regression"});
  EXPECT_EQ(low.status, 1) << low.output;
  EXPECT_TRUE(contains(line_with(low.output, "flash  "), "REGRESSION")) << low.output;
  EXPECT_FALSE(contains(line_with(low.output, "dense  "), "REGRESSION")) << low.output;
}

TEST(CompareTest, FailOnRegressionDecidesTheExitStatus) {
  const std::string dir = temp_dir();
  const auto base = write_csv(dir + "/base.csv", {ok_row("dense", 1024, 10)});
  const auto slower = write_csv(dir + "/slower.csv", {ok_row("dense", 1024, 12)});
  const auto faster = write_csv(dir + "/faster.csv", {ok_row("dense", 1024, 8)});
  EXPECT_EQ(compare({base, slower}).status, 0);
  EXPECT_EQ(compare({base, slower, "--fail-on-regression"}).status, 1);
  EXPECT_EQ(compare({base, faster, "--fail-on-regression"}).status, 0);
  EXPECT_EQ(compare({base, slower, "--fail-on-regression", "--threshold", "25%"}).status, 0);
}

TEST(CompareTest, ListsRowsInOneFileOnlyAndRowsNotOk) {
  const std::string dir = temp_dir();
  const auto base = write_csv(
      dir + "/base.csv",
      {ok_row("dense", 1024, 10), ok_row("dense", 2048, 40), ok_row("flash", 65536, 900)});
  const auto fresh = write_csv(
      dir + "/new.csv",
      {ok_row("dense", 1024, 10), skipped_row("flash", 65536), ok_row("dense", 4096, 160)});
  const CompareRun run = compare({base, fresh, "--fail-on-regression"});
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_TRUE(contains(run.output, "only in " + base + " (1):")) << run.output;
  EXPECT_TRUE(contains(line_with(run.output, "N=2048"), "dense")) << run.output;
  EXPECT_TRUE(contains(run.output, "only in " + fresh + " (1):")) << run.output;
  EXPECT_TRUE(contains(line_with(run.output, "N=4096"), "dense")) << run.output;
  EXPECT_TRUE(contains(run.output, "not compared: status not ok in one or both files (1):"))
      << run.output;
  EXPECT_TRUE(
      contains(line_with(run.output, "N=65536"), "base ok, new skipped (over the memory limit)"))
      << run.output;
  EXPECT_TRUE(contains(run.output, "1 compared, 0 regressions, 0 improvements")) << run.output;
}

TEST(CompareTest, ARepeatedPointUsesItsLastRowAndSaysSo) {
  const std::string dir = temp_dir();
  const auto base = write_csv(dir + "/base.csv", {ok_row("dense", 1024, 10)});
  // Appended twice: the rerun (12 ms) is the one compared.
  const auto fresh =
      write_csv(dir + "/new.csv", {ok_row("dense", 1024, 10), ok_row("dense", 1024, 12)});
  const CompareRun run = compare({base, fresh});
  EXPECT_TRUE(contains(line_with(run.output, "dense  "), "1.200")) << run.output;
  EXPECT_TRUE(contains(run.output, "note: " + fresh + " repeats 1 point(s); the last row"))
      << run.output;
  EXPECT_TRUE(contains(run.output, "1 compared, 1 regression")) << run.output;
}

TEST(CompareTest, GeometricMeanOfTheRatios) {
  const std::string dir = temp_dir();
  const auto base =
      write_csv(dir + "/base.csv", {ok_row("dense", 1024, 10), ok_row("flash", 1024, 10)});
  const auto fresh =
      write_csv(dir + "/new.csv", {ok_row("dense", 1024, 20), ok_row("flash", 1024, 5)});
  const CompareRun run = compare({base, fresh});
  EXPECT_TRUE(contains(run.output, "geometric-mean ratio 1.000 (+0.0%)")) << run.output;
}

// The same variant at the same N, as a decode step (M = 1) and with grouped kv heads.
ResultRow serving_row(const std::string& variant, std::int64_t seq_len, std::int64_t query_len,
                      std::int64_t kv_heads, double time_ms) {
  ResultRow r = ok_row(variant, seq_len, time_ms);
  r.query_len = query_len;
  r.kv_heads = kv_heads;
  return r;
}

TEST(CompareTest, JoinsOnKvHeadsAndQueryLen) {
  const std::string dir = temp_dir();
  const auto base =
      write_csv(dir + "/base.csv",
                {ok_row("flash", 4096, 100), serving_row("flash", 4096, 1, 8, 1.0),
                 serving_row("flash", 4096, 1, 2, 0.5), serving_row("flash", 4096, 16, 8, 2)});
  const auto fresh =
      write_csv(dir + "/new.csv",
                {serving_row("flash", 4096, 1, 2, 0.25), ok_row("flash", 4096, 100),
                 serving_row("flash", 4096, 1, 8, 2.0), serving_row("flash", 4096, 64, 8, 2)});
  const CompareRun run = compare({base, fresh});
  // Each row meets its own point: the square one unchanged, the decode ones by their ratios.
  EXPECT_TRUE(contains(run.output, "3 compared, 1 regression, 1 improvement")) << run.output;
  EXPECT_TRUE(contains(line_with(run.output, "N=4096 B1 H8 D64"), "1.000")) << run.output;
  EXPECT_TRUE(contains(line_with(run.output, "N=4096 M=1 B1 H8 D64"), "2.000")) << run.output;
  EXPECT_TRUE(contains(line_with(run.output, "N=4096 M=1 B1 H8 KV2 D64"), "0.500")) << run.output;
  // Rows differing only in query_len are different points.
  EXPECT_TRUE(contains(line_with(run.output, "N=4096 M=16 "), "ok")) << run.output;
  EXPECT_TRUE(contains(run.output, "only in " + base + " (1):")) << run.output;
  EXPECT_TRUE(contains(run.output, "only in " + fresh + " (1):")) << run.output;
  EXPECT_TRUE(contains(line_with(run.output, "N=4096 M=64 "), "ok")) << run.output;
}

// Round-1 CSVs (results/reference/) have no kv_heads, query_len or min_bytes: square points.
const char* const kSquareEraHeader =
    "variant,params,batch,heads,seq_len,head_dim,causal,shared_qk,input,seed,scale,threads,reps,"
    "time_ms,time_ms_min,time_ms_max,pairs,gflops,peak_bytes,rss_delta_bytes,predicted_bytes,"
    "rel_err,max_abs_err,cos_sim_min,mass_recall,accuracy_rows,status,message,git_revision,cpu,"
    "blas_core,compiler,build_type,timestamp\n";

std::string write_square_era_csv(const std::string& path, double time_ms) {
  std::ofstream(path) << kSquareEraHeader << "flash,,1,8,4096,64,true,false,gaussian,42,0.125,1,5,"
                      << time_ms << "," << time_ms << "," << time_ms
                      << ",1000,10,1,1,1,0.001,0.01,0.99,0.95,8,ok,,abc,CPU,Zen,GCC,Release,"
                         "2026-01-01T00:00:00Z\n";
  return path;
}

TEST(CompareTest, AnOldFileComparesWithTheSquarePointsOfANewOne) {
  const std::string dir = temp_dir();
  const auto old_file = write_square_era_csv(dir + "/old.csv", 10);
  const auto fresh = write_csv(dir + "/new.csv",
                               {ok_row("flash", 4096, 8), serving_row("flash", 4096, 1, 8, 0.1)});
  const CompareRun run = compare({old_file, fresh});
  EXPECT_TRUE(contains(line_with(run.output, "N=4096 B1 H8 D64 causal"), "0.800")) << run.output;
  EXPECT_TRUE(contains(run.output, "1 compared")) << run.output;
  EXPECT_TRUE(contains(run.output, "only in " + fresh + " (1):")) << run.output;
  EXPECT_TRUE(contains(line_with(run.output, "only in"), fresh)) << run.output;
}

TEST(MergeTest, KeysRowsOnKvHeadsAndQueryLenAndConvertsOldFiles) {
  const std::string dir = temp_dir();
  const auto old_file = write_square_era_csv(dir + "/old.csv", 10);
  const auto decode = write_csv(dir + "/decode.csv", {serving_row("flash", 4096, 1, 8, 1),
                                                      serving_row("flash", 4096, 1, 2, 1)});
  std::ostringstream out;
  EXPECT_EQ(merge_command({old_file, decode, "--out", dir + "/all.csv"}, out), 0);
  // Three distinct points: none repeats another, though all share variant, N and heads.
  EXPECT_TRUE(contains(out.str(), "merged 3 rows from 2 files")) << out.str();
  EXPECT_FALSE(contains(out.str(), "repeat")) << out.str();
  const auto rows = read_results_csv(dir + "/all.csv");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].kv_heads, 8);
  EXPECT_EQ(rows[0].query_len, 4096);
  EXPECT_FALSE(rows[0].min_bytes.has_value());
  EXPECT_EQ(rows[0].time_ms, 10);
  EXPECT_EQ(rows[1].query_len, 1);
  EXPECT_EQ(rows[2].kv_heads, 2);
  // The merged file has the current header, so new rows can be appended to it.
  EXPECT_NO_THROW(CsvWriter(dir + "/all.csv").write(ok_row("flash", 8192, 1)));
  // An old --out is refused, naming the way out, and left alone.
  EXPECT_THROW(merge_command({decode, "--out", old_file}, out), std::invalid_argument);
  EXPECT_EQ(read_results_csv(old_file).size(), 1u);
}

// Runs the real program: the exit status is what a CI job sees.
int run_binary(const std::string& arguments, const std::string& log) {
  const std::string command =
      std::string("'") + ATTNBENCH_BINARY + "' " + arguments + " > '" + log + "' 2>&1";
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(CompareBinaryTest, FailOnRegressionExitStatusEndToEnd) {
  const std::string dir = temp_dir();
  const auto base = write_csv(dir + "/base.csv", {ok_row("dense", 1024, 10)});
  const auto slower = write_csv(dir + "/slower.csv", {ok_row("dense", 1024, 12)});
  const std::string log = dir + "/log.txt";
  EXPECT_EQ(run_binary("compare '" + base + "' '" + slower + "'", log), 0);
  EXPECT_EQ(run_binary("compare '" + base + "' '" + slower + "' --fail-on-regression", log), 1);
  std::ifstream in(log);
  const std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(contains(output, "1 compared, 1 regression")) << output;
  EXPECT_EQ(run_binary("compare '" + base + "' '" + slower + "' --threshold 5", log), 2);
  EXPECT_EQ(run_binary("compare '" + base + "' '" + dir + "/missing.csv'", log), 2);
}

// Every committed reference CSV still reads, merges into the current header, and advises from the
// binary; those written before the CPU identity columns read with the columns empty, and keep
// them empty through the merge.
TEST(MergeTest, ReferenceCsvsFromBeforeTheCpuIdentityColumnsStillLoad) {
  const std::string dir = temp_dir();
  std::vector<std::string> files;
  for (const auto& entry :
       fs::directory_iterator(std::string(ATTNBENCH_SOURCE_DIR) + "/results/reference"))
    if (entry.path().extension() == ".csv") files.push_back(entry.path().string());
  ASSERT_FALSE(files.empty());
  for (const std::string& file : files) {
    const auto rows = read_results_csv(file);
    ASSERT_FALSE(rows.empty()) << file;
    std::string first_line;
    std::getline(std::ifstream(file) >> std::ws, first_line);
    const bool has_identity = first_line.find("cpu_uarch") != std::string::npos;
    if (!has_identity) {
      EXPECT_EQ(rows[0].context.cpu_vendor, "") << file;
      EXPECT_EQ(rows[0].context.cpu_uarch, "") << file;
    }
    const std::string merged = dir + "/" + fs::path(file).filename().string();
    std::ostringstream out;
    ASSERT_EQ(merge_command({file, "--out", merged}, out), 0) << file << ": " << out.str();
    std::ifstream in(merged);
    std::string header;
    std::getline(in, header);
    EXPECT_EQ(header, csv_header_line()) << file;
    const auto again = read_results_csv(merged);
    ASSERT_EQ(again.size(), rows.size()) << file;
    EXPECT_EQ(again[0].context.cpu_family_model, rows[0].context.cpu_family_model) << file;
    EXPECT_EQ(again[0].context.cpu_isa, rows[0].context.cpu_isa) << file;
    if (!has_identity) {
      EXPECT_EQ(again[0].context.cpu_isa, "") << file;
    }
    EXPECT_EQ(run_binary("advise '" + file + "' --min-recall none", dir + "/advise.log"), 0)
        << file;
  }
}

TEST(MergeTest, ConcatenatesRowsInInputOrder) {
  const std::string dir = temp_dir();
  const auto a = write_csv(dir + "/a.csv", {ok_row("dense", 1024, 1), ok_row("dense", 2048, 2)});
  const auto b = write_csv(dir + "/b.csv", {skipped_row("flash", 65536)});
  const auto c = write_csv(dir + "/c.csv", {ok_row("flash", 1024, 3)});
  std::ostringstream out;
  EXPECT_EQ(merge_command({c, a, b, "--out", dir + "/all.csv"}, out), 0);
  EXPECT_TRUE(contains(out.str(), "merged 4 rows from 3 files")) << out.str();
  const auto rows = read_results_csv(dir + "/all.csv");
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(csv_line(rows[0]), csv_line(ok_row("flash", 1024, 3)));
  EXPECT_EQ(csv_line(rows[1]), csv_line(ok_row("dense", 1024, 1)));
  EXPECT_EQ(csv_line(rows[2]), csv_line(ok_row("dense", 2048, 2)));
  EXPECT_EQ(csv_line(rows[3]), csv_line(skipped_row("flash", 65536)));
}

TEST(MergeTest, RejectsAnInputWithAnotherHeaderNamingTheFileAndTheDifference) {
  const std::string dir = temp_dir();
  const auto a = write_csv(dir + "/a.csv", {ok_row("dense", 1024, 1)});
  const std::string other = dir + "/other.csv";
  std::string header = csv_header_line();
  header.replace(header.find(",timestamp"), 10, ",when");
  std::ofstream(other) << header << "\n";
  const std::string out_path = dir + "/all.csv";
  std::ostringstream out;
  try {
    merge_command({a, other, "--out", out_path}, out);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    EXPECT_TRUE(contains(m, other)) << m;
    EXPECT_TRUE(contains(m, "missing timestamp")) << m;
    EXPECT_TRUE(contains(m, "unexpected when")) << m;
  }
  EXPECT_FALSE(fs::exists(out_path)) << "a rejected merge must not write --out";

  // Same columns, another order: the message names the first column out of place.
  header = csv_header_line();
  header.replace(0, std::string("variant,params").size(), "params,variant");
  std::ofstream(other) << header << "\n";
  try {
    merge_command({other, "--out", out_path}, out);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(contains(e.what(), "column 1 is 'params' where the suite has 'variant'"))
        << e.what();
  }
}

TEST(MergeTest, RefusesAnOutputThatIsAlsoAnInput) {
  const std::string dir = temp_dir();
  const auto a = write_csv(dir + "/a.csv", {ok_row("dense", 1024, 1)});
  const auto b = write_csv(dir + "/b.csv", {ok_row("dense", 2048, 1)});
  std::ostringstream out;
  EXPECT_THROW(merge_command({a, b, "--out", b}, out), UsageError);
  // Another spelling of the same file.
  EXPECT_THROW(merge_command({a, b, "--out", dir + "/./a.csv"}, out), UsageError);
  EXPECT_EQ(read_results_csv(b).size(), 1u);
  EXPECT_THROW(merge_command({a, b}, out), UsageError);                     // no --out
  EXPECT_THROW(merge_command({"--out", dir + "/x.csv"}, out), UsageError);  // no input
}

// Merges `bad` and returns the error message.
std::string merge_error(const std::string& dir, const std::string& bad) {
  std::ostringstream out;
  try {
    merge_command({bad, "--out", dir + "/all.csv"}, out);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no exception";
}

TEST(MergeTest, RejectsMalformedRowsNamingFileLineAndColumn) {
  const std::string dir = temp_dir();
  const std::string good = csv_line(ok_row("dense", 1024, 1));

  const auto not_a_number = write_csv(dir + "/number.csv", {ok_row("dense", 1024, 1)});
  std::string line = good;
  line.replace(line.find(",1024,1024,"), 11, ",10x4,1024,");
  std::ofstream(not_a_number, std::ios::app) << line << "\n";
  std::string m = merge_error(dir, not_a_number);
  EXPECT_TRUE(contains(m, not_a_number)) << m;
  EXPECT_TRUE(contains(m, "line 3")) << m;
  EXPECT_TRUE(contains(m, "column 'seq_len'")) << m;

  const auto short_row = write_csv(dir + "/short.csv", {});
  line = good.substr(0, good.find(",gaussian,"));  // ends after column 12, shared_qk
  std::ofstream(short_row, std::ios::app) << line << "\n";
  m = merge_error(dir, short_row);
  EXPECT_TRUE(contains(m, short_row)) << m;
  EXPECT_TRUE(contains(m, "line 2")) << m;
  const std::string columns = std::to_string(csv_columns().size());
  EXPECT_TRUE(contains(m, "12 fields where the header has " + columns + "; column 13 (input)"))
      << m;

  const auto long_row = write_csv(dir + "/long.csv", {});
  std::ofstream(long_row, std::ios::app) << good << ",extra\n";
  m = merge_error(dir, long_row);
  EXPECT_TRUE(contains(m, "line 2")) << m;
  EXPECT_TRUE(contains(m, "column " + std::to_string(csv_columns().size() + 1))) << m;

  const auto open_quote = write_csv(dir + "/quote.csv", {ok_row("dense", 1024, 1)});
  line = good;
  line.replace(line.find(",gaussian,"), 10, ",\"gaussian,");
  std::ofstream(open_quote, std::ios::app) << line << "\n";
  m = merge_error(dir, open_quote);
  EXPECT_TRUE(contains(m, "line 3")) << m;
  EXPECT_TRUE(contains(m, "column 13 (input): a quoted field is not closed")) << m;

  EXPECT_FALSE(fs::exists(dir + "/all.csv"));
}

TEST(MergeTest, AnEmptyInputOrATornLastRowAddsNoRowsAndTheTornRowIsReported) {
  const std::string dir = temp_dir();
  const std::string empty = dir + "/empty.csv";
  std::ofstream{empty};
  const auto torn = write_csv(dir + "/torn.csv", {ok_row("dense", 1024, 1)});
  const std::string half_row = csv_line(ok_row("dense", 2048, 1)).substr(0, 20);
  std::ofstream(torn, std::ios::app) << half_row;  // a kill in the middle of a write
  std::ostringstream out;
  EXPECT_EQ(merge_command({empty, torn, "--out", dir + "/all.csv"}, out), 0);
  EXPECT_EQ(read_results_csv(dir + "/all.csv").size(), 1u);
  EXPECT_TRUE(contains(out.str(), "merged 1 row from 2 files")) << out.str();
  EXPECT_TRUE(contains(out.str(), torn + " ends in a row torn by an interrupted write (20 bytes"))
      << out.str();
}

// dtype is part of the point: fp32 and bf16 rows of the same shape are different measurements
// for compare, merge and --resume, and a sweep's --dtype list multiplies the points.
TEST(PrecisionAxis, DtypeIsPartOfTheKeyAndASweepAxis) {
  ResultRow fp32;
  fp32.variant = "flash";
  fp32.seq_len = fp32.query_len = 1024;
  ResultRow bf16_row = fp32;
  bf16_row.dtype = "bf16";
  EXPECT_NE(result_key(fp32), result_key(bf16_row));
  EXPECT_NE(point_summary(bf16_row).find("bf16"), std::string::npos) << point_summary(bf16_row);

  std::string help;
  const auto config = parse_sweep_options(
      {"--out", "unused.csv", "--variant", "flash", "--seq-len", "64,128", "--dtype", "fp32,bf16"},
      help);
  ASSERT_TRUE(config.has_value());
  const std::vector<Point> points = expand_points(*config);
  ASSERT_EQ(points.size(), 4u);
  int bf16_points = 0;
  for (const Point& p : points) bf16_points += p.shape.dtype == Dtype::kBf16 ? 1 : 0;
  EXPECT_EQ(bf16_points, 2);
  const auto fp32_only = parse_sweep_options({"--out", "unused.csv", "--variant", "flash"}, help);
  ASSERT_TRUE(fp32_only.has_value());
  for (const Point& p : expand_points(*fp32_only)) EXPECT_EQ(p.shape.dtype, Dtype::kFp32);
}

}  // namespace
}  // namespace attn::harness
