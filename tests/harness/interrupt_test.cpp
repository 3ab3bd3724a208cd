// Interrupted sweeps, on the real binary: SIGKILL at random moments, SIGINT and SIGTERM, then
// --resume. The final CSV must hold every (point, variant) exactly once, all rows whole and ok.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness/io/csv.hpp"
#include "tests/support/process_support.hpp"

namespace attn::harness {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using attn::testing::ProcessResult;
using attn::testing::read_text_file;
using attn::testing::spawn_process;
using attn::testing::wait_process;

const std::vector<std::string> kVariants = {"dense", "flash:block=0",
                                            "sliding_window:left=16,right=16"};
const std::vector<std::string> kSeqLens = {"64", "96", "128", "160", "192", "256"};

class InterruptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("attnbench_interrupt_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    csv_ = (dir_ / "sweep.csv").string();
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  // Small points, each a few tens of milliseconds, so a sweep takes about a second.
  std::vector<std::string> sweep_args(const std::string& min_time = "0.01") const {
    std::vector<std::string> args = {ATTNBENCH_BINARY, "sweep"};
    for (const std::string& v : kVariants) args.insert(args.end(), {"--variant", v});
    std::string seq_lens;
    for (const std::string& n : kSeqLens) seq_lens += (seq_lens.empty() ? "" : ",") + n;
    args.insert(args.end(), {"--seq-len", seq_lens, "--heads", "2", "--head-dim", "16", "--threads",
                             "1", "--reps", "2", "--min-time", min_time, "--accuracy-rows", "16",
                             "--resume", "--out", csv_});
    return args;
  }

  pid_t start(const std::vector<std::string>& args) {
    return spawn_process(args, (dir_ / "stdout.txt").string(), (dir_ / "stderr.txt").string());
  }
  std::string stderr_text() const { return read_text_file((dir_ / "stderr.txt").string()); }

  // Rows in the CSV so far (complete lines after the header).
  std::size_t rows_written() const {
    const std::string text = read_text_file(csv_);
    std::size_t lines = 0;
    for (char c : text) lines += c == '\n';
    return lines > 0 ? lines - 1 : 0;
  }

  void wait_for_rows(pid_t pid, std::size_t rows) const {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (rows_written() < rows && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(2ms);
    ASSERT_GE(rows_written(), rows) << "the sweep (pid " << pid << ") wrote no rows in time";
  }

  // Waits until the CSV header is written, then a little longer, so that the sweep is inside
  // its first (long) timing.
  void wait_for_first_timing() const {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!fs::exists(csv_) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(2ms);
    std::this_thread::sleep_for(300ms);
  }

  // Every line whole, so the file parses with nothing torn; returns the rows.
  std::vector<ResultRow> whole_rows() const {
    const std::string text = read_text_file(csv_);
    std::size_t torn = 0;
    auto rows = parse_results_csv(text, csv_, &torn);
    // A row is one write() of well under a page, which a kill cannot tear on Linux.
    EXPECT_EQ(torn, 0u) << "torn tail in " << csv_;
    return rows;
  }

  void finish_and_check() {
    const ProcessResult r = wait_process(start(sweep_args()), 120s);
    ASSERT_FALSE(r.timed_out);
    ASSERT_EQ(r.exit_code, 0) << stderr_text();
    std::map<std::pair<std::string, std::int64_t>, int> seen;
    for (const ResultRow& row : whole_rows()) {
      EXPECT_EQ(row.status, kStatusOk) << row.message;
      ++seen[{row.spec(), row.seq_len}];
    }
    for (const std::string& v : kVariants)
      for (const std::string& n : kSeqLens)
        EXPECT_EQ((seen[{v, std::stoll(n)}]), 1) << v << " N=" << n;
    EXPECT_EQ(seen.size(), kVariants.size() * kSeqLens.size());
  }

  fs::path dir_;
  std::string csv_;
};

TEST_F(InterruptTest, KillNineAtRandomMomentsThenResume) {
  std::mt19937 random(20240611);
  std::uniform_int_distribution<int> delay_ms(0, 700);
  for (int attempt = 0; attempt < 8; ++attempt) {
    const int delay = delay_ms(random);
    SCOPED_TRACE("SIGKILL after " + std::to_string(delay) + " ms (attempt " +
                 std::to_string(attempt) + ")");
    const pid_t pid = start(sweep_args());
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    ::kill(pid, SIGKILL);
    const ProcessResult r = wait_process(pid, 30s);
    ASSERT_FALSE(r.timed_out);
    if (fs::exists(csv_)) whole_rows();  // whole rows only, at any moment
  }
  finish_and_check();
}

TEST_F(InterruptTest, SigintStopsCleanlyAndResumeFinishes) {
  const pid_t pid = start(sweep_args());
  wait_for_rows(pid, 2);
  ::kill(pid, SIGINT);
  const ProcessResult r = wait_process(pid, 30s);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.term_signal, 0);
  EXPECT_EQ(r.exit_code, 130);
  const std::string err = stderr_text();
  EXPECT_NE(err.find("stopped by SIGINT"), std::string::npos) << err;
  EXPECT_NE(err.find("--resume"), std::string::npos) << err;
  EXPECT_LT(whole_rows().size(), kVariants.size() * kSeqLens.size());
  finish_and_check();
}

TEST_F(InterruptTest, SigtermStopsCleanlyAndResumeFinishes) {
  const pid_t pid = start(sweep_args());
  wait_for_rows(pid, 3);
  ::kill(pid, SIGTERM);
  const ProcessResult r = wait_process(pid, 30s);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 143);
  EXPECT_NE(stderr_text().find("stopped by SIGTERM"), std::string::npos) << stderr_text();
  finish_and_check();
}

// A timing of many seconds is abandoned between forwards, without a row for it.
TEST_F(InterruptTest, LongTimingIsAbandonedPromptly) {
  const pid_t pid = start(sweep_args("30"));
  // The header is written before the first measurement; the first timing then runs 30 s.
  wait_for_first_timing();
  const auto sent = std::chrono::steady_clock::now();
  ::kill(pid, SIGINT);
  const ProcessResult r = wait_process(pid, 30s);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 130);
  EXPECT_LT(std::chrono::steady_clock::now() - sent, 3s);
  EXPECT_EQ(whole_rows().size(), 0u);
  finish_and_check();
}

// A second interrupt exits at once, with the status of the first.
TEST_F(InterruptTest, SecondInterruptExitsAtOnce) {
  const pid_t pid = start(sweep_args("30"));
  wait_for_first_timing();
  ::kill(pid, SIGINT);
  ::kill(pid, SIGINT);
  const ProcessResult r = wait_process(pid, 30s);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 130);
  whole_rows();
}

// --resume keys on kv_heads and query_len: points differing only in them are measured once
// each, and a point already in the file is not measured again.
TEST_F(InterruptTest, ResumeKeysOnKvHeadsAndQueryLen) {
  auto sweep = [&](const std::string& query_lens, const std::string& kv_heads) {
    return std::vector<std::string>{
        ATTNBENCH_BINARY, "sweep",    "--variant", "dense", "--seq-len",  "32",
        "--query-len",    query_lens, "--heads",   "2",     "--kv-heads", kv_heads,
        "--head-dim",     "4",        "--threads", "1",     "--reps",     "1",
        "--min-time",     "0.001",    "--resume",  "--out", csv_};
  };
  auto run = [&](const std::vector<std::string>& args) {
    const ProcessResult r = wait_process(start(args), 60s);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.exit_code, 0) << stderr_text();
    return stderr_text();
  };
  run(sweep("32", "2"));  // the square point
  std::string err = run(sweep("1,32", "2"));
  EXPECT_NE(err.find("resume: 1 rows already done, 1 to measure"), std::string::npos) << err;
  err = run(sweep("1,32", "1,2"));
  EXPECT_NE(err.find("resume: 2 rows already done, 2 to measure"), std::string::npos) << err;
  err = run(sweep("1,32", "1,2"));
  EXPECT_NE(err.find("resume: 4 rows already done, 0 to measure"), std::string::npos) << err;
  std::set<std::pair<std::int64_t, std::int64_t>> points;
  for (const ResultRow& row : whole_rows()) {
    EXPECT_EQ(row.status, kStatusOk) << row.message;
    EXPECT_TRUE(points.insert({row.query_len, row.kv_heads}).second)
        << "M=" << row.query_len << " KV=" << row.kv_heads << " measured twice";
  }
  EXPECT_EQ(points,
            (std::set<std::pair<std::int64_t, std::int64_t>>{{1, 1}, {1, 2}, {32, 1}, {32, 2}}));
}

}  // namespace
}  // namespace attn::harness
