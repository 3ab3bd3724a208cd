#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "harness/csv.hpp"

namespace attn::harness {
namespace {

std::string temp_path(const std::string& name) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("attnbench_csv_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / name;
  std::filesystem::remove(path);
  return path.string();
}

ResultRow sample_row() {
  ResultRow r;
  r.variant = "bigbird";
  r.params = "block=64,window=3,global=2,random=3,seed=7";
  r.batch = 1, r.heads = 8, r.seq_len = 4096, r.head_dim = 64;
  r.causal = true;
  r.input = "local";
  r.seed = 42;
  r.scale = 0.125f;
  r.threads = 2;
  r.reps = 5;
  r.time_ms = 12.5, r.time_ms_min = 12.25, r.time_ms_max = 13.75;
  r.pairs = 123456789;
  r.gflops = 98.5;
  r.peak_bytes = 1 << 20, r.rss_delta_bytes = 2 << 20, r.predicted_bytes = 3 << 20;
  r.rel_err = 0.015625, r.max_abs_err = 0.25, r.cos_sim_min = 0.875, r.mass_recall = 0.9375;
  r.accuracy_rows = 256;
  r.status = kStatusOk;
  r.message = "a \"quoted\", comma";
  r.context = {"abc123", "Some CPU, 2 cores", "Haswell", "GCC 12.2.0", "Release"};
  r.timestamp = "2026-11-22T03:04:05Z";
  return r;
}

TEST(Csv, HeaderHasTheDocumentedColumnsInOrder) {
  const std::vector<std::string> expected = {
      "variant",         "params",   "batch",       "heads",        "seq_len",
      "head_dim",        "causal",   "shared_qk",   "input",        "seed",
      "scale",           "threads",  "reps",        "time_ms",      "time_ms_min",
      "time_ms_max",     "pairs",    "gflops",      "peak_bytes",   "rss_delta_bytes",
      "predicted_bytes", "rel_err",  "max_abs_err", "cos_sim_min",  "mass_recall",
      "accuracy_rows",   "status",   "message",     "git_revision", "cpu",
      "blas_core",       "compiler", "build_type",  "timestamp"};
  EXPECT_EQ(csv_columns(), expected);
}

TEST(Csv, RowRoundTripsThroughTheParser) {
  const std::string path = temp_path("round_trip.csv");
  ResultRow skipped = sample_row();
  skipped.status = kStatusSkipped;
  skipped.message = "predicted 30 GiB, over the memory limit";
  skipped.reps.reset(), skipped.time_ms.reset(), skipped.gflops.reset(), skipped.rel_err.reset();
  {
    CsvWriter writer(path);
    writer.write(sample_row());
    writer.write(skipped);
  }
  const auto rows = read_results_csv(path);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(csv_line(rows[0]), csv_line(sample_row()));
  EXPECT_EQ(rows[0].message, "a \"quoted\", comma");
  EXPECT_EQ(rows[0].context.cpu, "Some CPU, 2 cores");
  EXPECT_EQ(rows[0].scale, 0.125f);
  EXPECT_EQ(rows[0].time_ms, 12.5);
  EXPECT_EQ(rows[0].pairs, 123456789);
  EXPECT_TRUE(rows[0].causal);
  EXPECT_EQ(csv_line(rows[1]), csv_line(skipped));
  EXPECT_FALSE(rows[1].time_ms.has_value());
}

TEST(Csv, AppendsToAFileWithTheSameHeaderWithoutRepeatingIt) {
  const std::string path = temp_path("append.csv");
  CsvWriter(path).write(sample_row());
  CsvWriter(path).write(sample_row());
  EXPECT_EQ(read_results_csv(path).size(), 2u);
  std::ifstream in(path);
  std::string line;
  int headers = 0;
  while (std::getline(in, line)) headers += line == csv_header_line();
  EXPECT_EQ(headers, 1);
}

TEST(Csv, RefusesToAppendToAFileWithAnotherHeader) {
  const std::string path = temp_path("other.csv");
  std::ofstream(path) << "a,b,c\n1,2,3\n";
  EXPECT_THROW(CsvWriter{path}, std::invalid_argument);
}

TEST(Csv, ReaderNamesTheFileAndLineOfAMalformedRow) {
  const std::string path = temp_path("malformed.csv");
  {
    CsvWriter writer(path);
    writer.write(sample_row());
  }
  std::string bad = csv_line(sample_row());
  bad.replace(bad.find(",4096,"), 6, ",40x6,");
  std::ofstream(path, std::ios::app) << bad << "\n";
  try {
    read_results_csv(path);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("line 3"), std::string::npos) << m;
    EXPECT_NE(m.find("seq_len"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace attn::harness
