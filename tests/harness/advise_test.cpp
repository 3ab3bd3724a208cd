// advise and report on hand-made results with a known answer, and the binary's refusals.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>

#include "attention/core/registry.hpp"
#include "harness/analysis/advise.hpp"
#include "harness/analysis/report.hpp"
#include "harness/cli/analysis_commands.hpp"
#include "harness/io/csv.hpp"
#include "harness/sweep/usage_error.hpp"
#include "tests/support/process_support.hpp"
#include "tests/support/test_support.hpp"

namespace attn::harness {
namespace {

namespace fs = std::filesystem;

using attn::testing::temp_dir;

// One ok row: H=1, D=64, non-causal, so full attention is N² pairs; `share` of them are kept.
ResultRow row(const std::string& variant, const std::string& params, const std::string& input,
              std::int64_t n, double time_ms, double spread, double recall, double share = 1) {
  ResultRow r;
  r.variant = variant, r.params = params;
  r.batch = 1, r.heads = 1, r.kv_heads = 1, r.seq_len = n, r.query_len = n, r.head_dim = 64;
  r.input = input;
  r.scale = 0.125f;
  r.threads = 2;
  r.reps = 3;
  r.time_ms = time_ms, r.time_ms_min = time_ms - spread, r.time_ms_max = time_ms + spread;
  r.pairs = static_cast<std::int64_t>(share * static_cast<double>(n * n));
  r.mass_recall = recall;
  r.rel_err = 1 - recall;
  r.peak_bytes = share == 1 && variant == "dense" ? n * n * 4 : 1 << 18;
  r.status = kStatusOk;
  return r;
}

std::vector<std::string> names(const std::vector<const ResultRow*>& rows) {
  std::vector<std::string> out;
  for (const ResultRow* r : rows) out.push_back(r->spec());
  return out;
}

TEST(Advise, PicksTheFastestVariantThatMeetsTheBoundsWithItsSpeedupAndRunnerUp) {
  const std::vector<ResultRow> rows = {
      row("flash", "", "local", 4096, 100, 1, 1),
      row("dense", "", "local", 4096, 180, 1, 1),
      row("lsh", "hashes=1", "local", 4096, 5, 0.1, 0.80, 0.05),  // fastest, misses recall
      row("sliding_window", "left=8,right=8", "local", 4096, 10, 0.5, 0.995, 0.1),
      row("bigbird", "block=64", "local", 4096, 20, 0.5, 0.999, 0.2),
  };
  const AdviseResult a = advise(rows, AdviseOptions{});
  ASSERT_EQ(a.groups.size(), 1u);
  const GroupAdvice& g = a.groups[0];
  EXPECT_EQ(names(g.winners), std::vector<std::string>{"sliding_window:left=8,right=8"});
  ASSERT_NE(g.runner_up, nullptr);
  EXPECT_EQ(g.runner_up->spec(), "bigbird:block=64");
  ASSERT_NE(g.baseline, nullptr);
  EXPECT_EQ(g.baseline->variant, "flash");
  EXPECT_FALSE(g.only_exact);
  const auto table = advice_table(a);
  ASSERT_EQ(table.size(), 2u);
  const auto& header = table[0];
  const auto column = [&](const std::string& name) {
    return static_cast<std::size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  EXPECT_EQ(table[1][column("x flash")], "10.00");
  EXPECT_EQ(table[1][column("advice")], "sliding_window:left=8,right=8");

  // A looser bound lets lsh win; a rel_err bound excludes it again.
  AdviseOptions loose;
  loose.min_recall = 0.5;
  EXPECT_EQ(names(advise(rows, loose).groups[0].winners), std::vector<std::string>{"lsh:hashes=1"});
  loose.max_rel_err = 0.01;
  EXPECT_EQ(names(advise(rows, loose).groups[0].winners),
            std::vector<std::string>{"sliding_window:left=8,right=8"});
}

TEST(Advise, OverlappingTimeRangesAreATieAndBothAreNamed) {
  std::vector<ResultRow> rows = {
      row("flash", "", "local", 4096, 100, 1, 1),
      row("sliding_window", "left=8,right=8", "local", 4096, 10, 1.5, 0.995, 0.1),
      row("longformer", "left=8,right=8", "local", 4096, 12, 1.0, 0.995, 0.1),  // 11-13 vs 8.5-11.5
      row("bigbird", "block=64", "local", 4096, 20, 0.5, 0.999, 0.2),
  };
  AdviseResult a = advise(rows, AdviseOptions{});
  EXPECT_EQ(names(a.groups[0].winners), (std::vector<std::string>{"sliding_window:left=8,right=8",
                                                                  "longformer:left=8,right=8"}));
  EXPECT_EQ(a.groups[0].runner_up->spec(), "bigbird:block=64");
  EXPECT_NE(advice_table(a)[1].back().find("tie"), std::string::npos);

  rows[2].time_ms_min = 11.6;  // now clear of 8.5-11.5: no tie
  a = advise(rows, AdviseOptions{});
  EXPECT_EQ(names(a.groups[0].winners), std::vector<std::string>{"sliding_window:left=8,right=8"});
  EXPECT_EQ(a.groups[0].runner_up->spec(), "longformer:left=8,right=8");
}

TEST(Advise, SaysWhenOnlyExactVariantsOrNothingMeetsTheBounds) {
  const std::vector<ResultRow> rows = {
      row("flash", "", "gaussian", 4096, 100, 1, 1),
      row("dense", "", "gaussian", 4096, 180, 1, 1),
      row("sliding_window", "left=8,right=8", "gaussian", 4096, 10, 0.5, 0.06, 0.1),
  };
  AdviseResult a = advise(rows, AdviseOptions{});
  EXPECT_EQ(names(a.groups[0].winners), std::vector<std::string>{"flash"});
  EXPECT_TRUE(a.groups[0].only_exact);
  EXPECT_NE(advice_table(a)[1].back().find("only exact variants"), std::string::npos);

  AdviseOptions tight;
  tight.max_memory = 1024;  // below every variant's peak
  a = advise(rows, tight);
  EXPECT_TRUE(a.groups[0].winners.empty());
  EXPECT_NE(advice_table(a)[1].back().find("nothing meets the bounds"), std::string::npos);
}

TEST(Advise, GroupsByTheInputsThatDifferAndSummarisesCrossoversPerInput) {
  std::vector<ResultRow> rows;
  for (std::int64_t n : {1024, 2048, 4096}) {
    const double flash = static_cast<double>(n * n) / 1e5;  // 10.5, 41.9, 167.8 ms
    for (const char* input : {"gaussian", "local"}) {
      const bool local = std::string(input) == "local";
      rows.push_back(row("flash", "", input, n, flash, 0.1, 1));
      // 256 keys per query: 20 ms whatever N, so slower than flash at 1K and faster above.
      rows.push_back(row("sliding_window", "left=128,right=127", input, n, 20, 0.2,
                         local ? 0.999 : 0.1, 256.0 / static_cast<double>(n)));
    }
  }
  const AdviseResult a = advise(rows, AdviseOptions{});
  EXPECT_EQ(a.by, (std::vector<std::string>{"input", "seq_len"}));
  ASSERT_EQ(a.groups.size(), 6u);
  EXPECT_EQ(a.groups[0].key, (std::vector<std::string>{"gaussian", "1024"}));
  EXPECT_EQ(names(a.groups[3].winners), std::vector<std::string>{"flash"});  // local, 1K
  EXPECT_EQ(names(a.groups[4].winners),
            std::vector<std::string>{"sliding_window:left=128,right=127"});  // local, 2K
  EXPECT_EQ(a.summary, (std::vector<std::string>{
                           "nothing sparse meets mass_recall >= 0.99 on gaussian",
                           "sliding_window:left=128,right=127 meets mass_recall >= 0.99 and beats "
                           "flash from N = 2K on local"}));

  // Grouped by hand: seq_len alone mixes the inputs, the last row of a spec wins in a group.
  AdviseOptions by_n;
  by_n.by = {"seq_len"};
  EXPECT_EQ(advise(rows, by_n).groups.size(), 3u);
  by_n.by = {"no_such_column"};
  EXPECT_THROW(advise(rows, by_n), UsageError);
  AdviseOptions absent;
  absent.baseline = "reformer";
  absent.baseline_required = true;
  EXPECT_THROW(advise(rows, absent), UsageError);
}

// A file from before kv_heads, query_len and min_bytes: advice still works and groups as square.
TEST(Advise, ReadsAnOlderFileWithoutTheNewerColumns) {
  const std::string header =
      "variant,params,batch,heads,seq_len,head_dim,causal,shared_qk,input,seed,scale,threads,reps,"
      "time_ms,time_ms_min,time_ms_max,pairs,gflops,peak_bytes,rss_delta_bytes,predicted_bytes,"
      "rel_err,max_abs_err,cos_sim_min,mass_recall,accuracy_rows,status,message,git_revision,cpu,"
      "blas_core,compiler,build_type,timestamp\n";
  const std::string tail = ",256,ok,,abc,AMD EPYC,Zen,GCC 12.2.0,Release,2026-11-22T09:48:05Z\n";
  const std::string text =
      header +
      "flash,block=0,1,8,1024,64,false,false,local,0,0.125,2,3,14,13.9,14.1,8388608,1,1,1,1,"
      "1e-6,1e-6,1,1" +
      tail +
      "sliding_window,\"left=256,right=256\",1,8,1024,64,false,false,local,0,0.125,2,3,7.4,7.3,"
      "7.5,3000000,1,1,1,1,1e-4,1e-4,1,0.9999" +
      tail;
  const auto rows = parse_results_csv(text, "old.csv");
  const AdviseResult a = advise(rows, AdviseOptions{});
  EXPECT_EQ(a.by, std::vector<std::string>{"seq_len"});  // query_len follows seq_len: not a group
  ASSERT_EQ(a.groups.size(), 1u);
  EXPECT_EQ(names(a.groups[0].winners),
            std::vector<std::string>{"sliding_window:left=256,right=256"});
  EXPECT_TRUE(attends_every_key(rows[0]));
  EXPECT_FALSE(attends_every_key(rows[1]));
}

TEST(Advise, DecodeAndPrefillRowsAtTheSameCacheLengthAreSeparateGroups) {
  std::vector<ResultRow> rows;
  for (std::int64_t m : {1, 2048}) {
    ResultRow r = row("flash", "", "local", 16384, 10, 0.1, 1);
    r.query_len = m;
    r.pairs = m * 16384;
    rows.push_back(r);
  }
  const AdviseResult a = advise(rows, AdviseOptions{});
  EXPECT_EQ(a.by, (std::vector<std::string>{"query_len", "seq_len"}));
  EXPECT_EQ(a.groups.size(), 2u);
  EXPECT_TRUE(attends_every_key(rows[0]));
}

TEST(Advise, BoundOptionsAreCheckedAndNamed) {
  AdviseOptionText text;
  text.max_memory = "2GiB";
  EXPECT_EQ(parse_advise_options(text).max_memory, std::int64_t{2} << 30);
  text.min_recall = "none";
  EXPECT_FALSE(parse_advise_options(text).min_recall.has_value());
  for (const auto& [field, value] : std::vector<std::pair<int, std::string>>{{0, "1.5"},
                                                                             {0, "-0.1"},
                                                                             {0, "high"},
                                                                             {1, "-1"},
                                                                             {1, "x"},
                                                                             {2, "lots"},
                                                                             {2, "0"},
                                                                             {3, ",seq_len"}}) {
    AdviseOptionText bad;
    (field == 0   ? bad.min_recall
     : field == 1 ? bad.max_rel_err
     : field == 2 ? bad.max_memory
                  : bad.by) = value;
    EXPECT_THROW(parse_advise_options(bad), UsageError) << value;
  }
}

std::string write_csv(const std::string& path, const std::vector<ResultRow>& rows) {
  CsvWriter writer(path);
  for (const ResultRow& r : rows) writer.write(r);
  return path;
}

TEST(AdviseCommand, BadFilesAndBoundsExitTwoNamingThem) {
  const std::string dir = temp_dir();
  const std::string good = write_csv(dir + "/good.csv", {row("flash", "", "local", 1024, 1, 0, 1)});
  { std::ofstream(dir + "/notes.csv") << "time,value\n1,2\n"; }
  struct Case {
    std::vector<std::string> args;
    std::string named;
  };
  const std::vector<Case> cases = {
      {{"advise", dir + "/notes.csv"}, "notes.csv"},
      {{"advise", dir + "/missing.csv"}, "missing.csv"},
      {{"advise"}, "at least one"},
      {{"advise", good, "--min-recall", "1.5"}, "--min-recall"},
      {{"advise", good, "--max-rel-err", "-1"}, "--max-rel-err"},
      {{"advise", good, "--max-memory", "lots"}, "--max-memory"},
      {{"advise", good, "--format", "xml"}, "--format"},
      {{"advise", good, "--by", "colour"}, "colour"},
      {{"advise", good, "--baseline", "reformer"}, "reformer"},
      {{"report", good}, "--out"},
      {{"report", dir + "/notes.csv", "--out", dir + "/r.html"}, "notes.csv"},
      {{"report", good, "--out", good}, "--out"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {ATTNBENCH_BINARY};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const auto result = attn::testing::run_process(args, dir);
    EXPECT_EQ(result.exit_code, 2) << c.args.back() << ": " << result.err;
    EXPECT_NE(result.err.find(c.named), std::string::npos) << result.err;
  }
  EXPECT_FALSE(fs::exists(dir + "/r.html"));
  const auto ok =
      attn::testing::run_process({ATTNBENCH_BINARY, "advise", good, "--format", "csv"}, dir);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out.rfind("input,seq_len,advice,", 0), std::string::npos);  // one input: not a group
  EXPECT_EQ(ok.out.rfind("seq_len,advice,", 0), 0u) << ok.out;
}

// The HTML carries every row and the figures inline; the browser test checks it in Chromium.
TEST(Report, HoldsEveryRowTheFiguresAndTheSkippedRowsMessages) {
  const std::string dir = temp_dir();
  ResultRow skipped = row("dense", "", "local", 2048, 1, 0, 1);
  skipped.status = kStatusSkipped;
  skipped.time_ms.reset(), skipped.time_ms_min.reset(), skipped.time_ms_max.reset();
  skipped.message = "predicted 16 MiB over the memory limit";
  const std::string csv = write_csv(
      dir + "/r.csv",
      {row("flash", "", "local", 1024, 10, 0.1, 1),
       row("sliding_window", "left=8,right=8", "local", 1024, 2, 0.1, 0.999, 0.02),
       row("flash", "", "local", 2048, 40, 0.1, 1),
       row("sliding_window", "left=8,right=8", "local", 2048, 4, 0.1, 0.999, 0.01), skipped});
  ReportRequest request;
  request.files = {csv};
  request.out = dir + "/r.html";
  ASSERT_EQ(write_report(request), 0);
  const std::string html = attn::testing::read_text_file(request.out);
  const auto results = html.substr(html.find("id=\"results-table\""));
  const auto body = results.substr(0, results.find("</table>"));
  std::size_t tr = 0;
  for (auto at = body.find("<tr>"); at != std::string::npos; at = body.find("<tr>", at + 1)) ++tr;
  EXPECT_EQ(tr, 6u);  // the heading and five rows
  EXPECT_NE(html.find("data:image/svg+xml;base64,"), std::string::npos);
  EXPECT_NE(html.find("predicted 16 MiB over the memory limit"), std::string::npos);
  EXPECT_NE(html.find("attnbench sweep --variant flash"), std::string::npos);
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);
  EXPECT_EQ(html.find("href=\"http"), std::string::npos);
}

// The README's variant table is checked against the registry, so it cannot silently go stale.
TEST(Readme, VariantTableNamesEveryRegisteredVariantAndNoOther) {
  std::ifstream in(std::string(ATTNBENCH_SOURCE_DIR) + "/README.md");
  ASSERT_TRUE(in) << "README.md not found";
  std::string line;
  bool in_variants = false;
  std::set<std::string> documented;
  // A row starts "| `name" followed by ':' or '`' (std::regex trips GCC 12's
  // maybe-uninitialized warning under the sanitizer builds, so this is spelled out).
  const auto row_name = [](const std::string& row) -> std::string {
    if (row.rfind("| `", 0) != 0) return "";
    const std::size_t end = row.find_first_of(":`", 3);
    if (end == std::string::npos || end == 3) return "";
    const std::string name = row.substr(3, end - 3);
    const bool word = std::all_of(name.begin(), name.end(), [](unsigned char c) {
      return std::islower(c) || std::isdigit(c) || c == '_';
    });
    return word ? name : "";
  };
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) in_variants = line == "## Variants";
    if (line.rfind("### ", 0) == 0 && in_variants) break;  // the table precedes the subsections
    if (!in_variants) continue;
    if (const std::string name = row_name(line); !name.empty()) documented.insert(name);
  }
  std::set<std::string> registered;
  for (const auto* e : Registry::instance().entries()) registered.insert(e->info.name);
  EXPECT_EQ(documented, registered)
      << "README.md's table under '## Variants' must have one row per registered variant";
}

}  // namespace
}  // namespace attn::harness
