// Sharding a sweep: the split, the shard index from the environment, and putting the parts
// back together (merge --expect, status).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include "harness/cli/analysis_commands.hpp"
#include "harness/cli/options.hpp"
#include "harness/io/csv.hpp"
#include "harness/sweep/shard_selection.hpp"
#include "harness/sweep/sweep_config.hpp"
#include "harness/sweep/sweep_plan.hpp"
#include "harness/sweep/usage_error.hpp"
#include "tests/support/process_support.hpp"
#include "tests/support/test_support.hpp"

namespace attn::harness {
namespace {

namespace fs = std::filesystem;

using attn::testing::temp_dir;

std::string write_file(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

// A sweep of many sizes, as a research sweep to 1M tokens looks.
constexpr const char* kLongSweep =
    "variant = flash\n"
    "variant = sliding_window:left=256,right=0\n"
    "variant = bigbird\n"
    "seq-len = 1K,2K,4K,8K,16K,32K,64K,128K,256K,512K,1M\n"
    "input = gaussian,local,clustered\n"
    "causal = true\n"
    "threads = 1,2\n";

SweepConfig load(const std::string& path) {
  int shards = 0;
  return load_sweep_definition(path, shards);
}

std::map<std::string, int> shard_by_key(const SweepPlan& plan) {
  std::map<std::string, int> out;
  for (std::size_t i = 0; i < plan.items.size(); ++i) out[plan.items[i].key] = plan.shard_of[i];
  return out;
}

TEST(SweepSplit, EveryItemIsInExactlyOneShardAndTheSplitIsDeterministic) {
  const std::string dir = temp_dir();
  const SweepConfig config = load(write_file(dir + "/long.cfg", kLongSweep));
  const SweepPlan a = make_sweep_plan(config, 7);
  const SweepPlan b = make_sweep_plan(config, 7);
  ASSERT_EQ(a.items.size(), 3u * 11 * 3 * 2);
  EXPECT_EQ(a.shard_of, b.shard_of);
  std::vector<int> seen(a.items.size(), 0);
  for (int s = 0; s < a.num_shards; ++s)
    for (std::size_t i : a.items_of_shard(s)) ++seen[i];
  EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }));
  std::set<std::string> keys;
  for (const SweepItem& item : a.items) keys.insert(item.key);
  EXPECT_EQ(keys.size(), a.items.size()) << "two items share a key";
}

TEST(SweepSplit, BalancesPredictedCostAndSpreadsTheLongestPoints) {
  const std::string dir = temp_dir();
  const SweepConfig config = load(write_file(dir + "/long.cfg", kLongSweep));
  for (int shards : {2, 4, 7, 16}) {
    const SweepPlan plan = make_sweep_plan(config, shards);
    std::vector<std::int64_t> load(static_cast<std::size_t>(shards), 0);
    std::int64_t heaviest_item = 0;
    for (std::size_t i = 0; i < plan.items.size(); ++i) {
      load[static_cast<std::size_t>(plan.shard_of[i])] += plan.items[i].weight_us;
      heaviest_item = std::max(heaviest_item, plan.items[i].weight_us);
    }
    const double mean =
        static_cast<double>(std::accumulate(load.begin(), load.end(), std::int64_t{0})) / shards;
    const double heaviest = static_cast<double>(*std::max_element(load.begin(), load.end()));
    // The bound of the rule (no shard above the mean by more than one item) and the factor the
    // README states for a sweep of many items.
    EXPECT_LE(heaviest, mean + static_cast<double>(heaviest_item)) << shards << " shards";
    if (shards <= 4) {
      EXPECT_LE(heaviest / mean, 1.10) << shards << " shards";
    }
    // The 1M-token items (18 of them) are spread out: the six flash ones, the heaviest items
    // of the sweep, each go to a shard of their own.
    std::set<int> holders;
    for (std::size_t i = 0; i < plan.items.size(); ++i)
      if (plan.point_of(plan.items[i]).shape.seq_len == (1 << 20)) holders.insert(plan.shard_of[i]);
    EXPECT_GE(holders.size(), static_cast<std::size_t>(std::min(shards, 6))) << shards;
  }
}

TEST(SweepSplit, DoesNotDependOnTheOrderOfTheSweepsOptions) {
  const std::string dir = temp_dir();
  const SweepConfig forward = load(write_file(dir + "/a.cfg", kLongSweep));
  const SweepConfig reversed = load(write_file(dir + "/b.cfg",
                                               "threads = 2,1\n"
                                               "causal = true\n"
                                               "input = clustered,local,gaussian\n"
                                               "seq-len = 1M,512K,256K,128K,64K,32K,16K,8K,4K,"
                                               "2K,1K\n"
                                               "variant = bigbird:seed=0,block=64\n"
                                               "variant = sliding_window:right=0,left=256\n"
                                               "variant = flash\n"));
  const SweepPlan a = make_sweep_plan(forward, 5);
  const SweepPlan b = make_sweep_plan(reversed, 5);
  EXPECT_NE(a.items.front().key, b.items.front().key);  // the measurement order did change
  EXPECT_EQ(shard_by_key(a), shard_by_key(b));
}

TEST(SweepSplit, MoreShardsThanItemsLeavesSomeEmpty) {
  std::vector<SweepItem> items(3);
  for (std::size_t i = 0; i < items.size(); ++i) {
    items[i].key = "item" + std::to_string(i);
    items[i].weight_us = 10;
  }
  const std::vector<int> shard_of = split_longest_first(items, 5);
  EXPECT_EQ(std::set<int>(shard_of.begin(), shard_of.end()).size(), 3u);
  // Ties go by key to the lightest, lowest shard.
  EXPECT_EQ(shard_of, (std::vector<int>{0, 1, 2}));
}

// A fake environment for the index defaults.
struct FakeEnvironment {
  std::map<std::string, std::string> values;
  std::function<const char*(const char*)> getenv() const {
    return [this](const char* name) -> const char* {
      const auto it = values.find(name);
      return it == values.end() ? nullptr : it->second.c_str();
    };
  }
};

std::string usage_error(const std::optional<std::string>& n, const std::optional<std::string>& i,
                        const FakeEnvironment& env) {
  try {
    resolve_shard_selection(n, i, false, env.getenv());
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(ShardSelection, TheIndexDefaultsFromSlurmThenKubernetes) {
  FakeEnvironment env;
  EXPECT_FALSE(resolve_shard_selection(std::nullopt, std::nullopt, false, env.getenv()).sharded());
  env.values["JOB_COMPLETION_INDEX"] = "1";
  ShardSelection s = resolve_shard_selection("4", std::nullopt, false, env.getenv());
  EXPECT_EQ(s.index, 1);
  EXPECT_EQ(s.index_source, "JOB_COMPLETION_INDEX");
  env.values["SLURM_ARRAY_TASK_ID"] = "3";
  s = resolve_shard_selection("4", std::nullopt, false, env.getenv());
  EXPECT_EQ(s.index, 3);
  EXPECT_EQ(s.index_source, "SLURM_ARRAY_TASK_ID");
  EXPECT_EQ(s.label(), "3/4");
  // The option wins over the environment.
  s = resolve_shard_selection("4", "0", false, env.getenv());
  EXPECT_EQ(s.index, 0);
  EXPECT_EQ(s.index_source, "--shard-index");
  // --plan reads no index.
  EXPECT_EQ(resolve_shard_selection("4", std::nullopt, true, env.getenv()).index, -1);
}

TEST(ShardSelection, TheCountNeverComesFromTheEnvironment) {
  FakeEnvironment env;
  env.values["SLURM_ARRAY_TASK_ID"] = "2";
  env.values["SLURM_ARRAY_TASK_COUNT"] = "4";
  const std::string m = usage_error(std::nullopt, std::nullopt, env);
  EXPECT_NE(m.find("SLURM_ARRAY_TASK_ID"), std::string::npos) << m;
  EXPECT_NE(m.find("--num-shards is not given"), std::string::npos) << m;
}

TEST(ShardSelection, BadValuesAreRefusedWithTheirName) {
  FakeEnvironment env;
  EXPECT_NE(usage_error("4", "4", env).find("--shard-index: '4' is not an integer in [0, 3]"),
            std::string::npos);
  EXPECT_NE(usage_error("0", "0", env).find("--num-shards: '0'"), std::string::npos);
  EXPECT_NE(usage_error("x", "0", env).find("--num-shards: 'x'"), std::string::npos);
  EXPECT_NE(usage_error("4", "-1", env).find("--shard-index: '-1'"), std::string::npos);
  EXPECT_NE(usage_error(std::nullopt, "1", env).find("--num-shards is not given"),
            std::string::npos);
  EXPECT_NE(usage_error("4", std::nullopt, env).find("needs the shard to measure"),
            std::string::npos);
  env.values["SLURM_ARRAY_TASK_ID"] = "two";
  EXPECT_NE(usage_error("4", std::nullopt, env)
                .find("SLURM_ARRAY_TASK_ID (the shard index): "
                      "'two' is not an integer"),
            std::string::npos);
  env.values["SLURM_ARRAY_TASK_ID"] = "1 ";
  EXPECT_FALSE(usage_error("4", std::nullopt, env).empty());
}

// Parts of a small sweep written without measuring: one ok row per item of each shard.
struct Parts {
  std::string dir, config;
  SweepPlan plan;
  std::vector<std::string> files;  // shard-I-of-N.csv
};

constexpr const char* kSmallSweep =
    "variant = flash\n"
    "variant = sliding_window:left=16,right=0\n"
    "seq-len = 64,128,256\n"
    "input = gaussian,local\n"
    "heads = 2\n"
    "head-dim = 16\n"
    "threads = 1\n";

ResultRow fake_row(const SweepPlan& plan, std::size_t item, double time_ms) {
  ResultRow row = point_row(plan.point_of(plan.items[item]), plan.variant_of(plan.items[item]));
  row.reps = 1;
  row.time_ms = row.time_ms_min = row.time_ms_max = time_ms;
  row.status = kStatusOk;
  row.shard = std::to_string(plan.shard_of[item]) + "/" + std::to_string(plan.num_shards);
  row.timestamp = "2026-12-01T00:00:00Z";
  return row;
}

Parts make_parts(int shards, const std::set<std::size_t>& leave_out = {}) {
  Parts p;
  p.dir = temp_dir();
  p.config = write_file(p.dir + "/small.cfg", kSmallSweep);
  p.plan = make_sweep_plan(load(p.config), shards);
  for (int s = 0; s < shards; ++s) {
    p.files.push_back(p.dir + "/shard-" + std::to_string(s) + "-of-" + std::to_string(shards) +
                      ".csv");
    CsvWriter writer(p.files.back());
    for (std::size_t i : p.plan.items_of_shard(s))
      if (!leave_out.count(i)) writer.write(fake_row(p.plan, i, 1.0 + static_cast<double>(i)));
  }
  return p;
}

struct CommandRun {
  int status = -1;
  std::string output;
};

CommandRun merge(std::vector<std::string> args) {
  std::ostringstream out;
  CommandRun run;
  run.status = merge_command(args, out);
  run.output = out.str();
  return run;
}

CommandRun status(std::vector<std::string> args) {
  std::ostringstream out;
  CommandRun run;
  run.status = status_command(args, out);
  run.output = out.str();
  return run;
}

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

TEST(MergeExpect, CompletePartsMergeIntoOneRowPerItemInSweepOrder) {
  const Parts p = make_parts(3);
  const CommandRun run = merge(with({"--expect", p.config, "--out", p.dir + "/all.csv"}, p.files));
  EXPECT_EQ(run.status, 0) << run.output;
  const auto rows = read_results_csv(p.dir + "/all.csv");
  ASSERT_EQ(rows.size(), p.plan.items.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].spec(), p.plan.variant_of(p.plan.items[i]).spec());
    EXPECT_EQ(rows[i].seq_len, p.plan.point_of(p.plan.items[i]).shape.seq_len);
    EXPECT_EQ(*rows[i].time_ms, 1.0 + static_cast<double>(i));
  }
}

TEST(MergeExpect, GapsAreListedWithTheirShardAndStopTheMergeUnlessAllowed) {
  const std::size_t gap = 5;
  const Parts p = make_parts(3, {gap});
  const std::string owner = std::to_string(p.plan.shard_of[gap]) + "/3";
  const std::string out = p.dir + "/all.csv";
  CommandRun run = merge(with({"--expect", p.config, "--out", out}, p.files));
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.output.find("1 of 12 items of the sweep have no row"), std::string::npos)
      << run.output;
  EXPECT_NE(
      run.output.find("shard " + owner + "  " + p.plan.point_of(p.plan.items[gap]).to_string()),
      std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("nothing written"), std::string::npos);
  EXPECT_FALSE(fs::exists(out));

  run = merge(with({"--expect", p.config, "--allow-missing", "--out", out}, p.files));
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("merged 11 of 12 items"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("(1 missing)"), std::string::npos) << run.output;
  EXPECT_EQ(read_results_csv(out).size(), 11u);
}

TEST(MergeExpect, IdenticalCopiesMergeOnceAndConflictsNameBothFilesAndLines) {
  const Parts p = make_parts(2);
  const std::string copy = p.dir + "/copy.csv";
  fs::copy_file(p.files[0], copy);
  CommandRun run =
      merge(with(with({"--expect", p.config, "--out", p.dir + "/all.csv"}, p.files), {copy}));
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_EQ(read_results_csv(p.dir + "/all.csv").size(), p.plan.items.size());
  EXPECT_NE(run.output.find("repeated row(s)"), std::string::npos) << run.output;

  // The same item measured again, with another time: which one is right is not merge's call.
  const std::size_t item = p.plan.items_of_shard(1)[1];
  const std::string again = p.dir + "/again.csv";
  {
    CsvWriter writer(again);
    const std::size_t copied = p.plan.items_of_shard(0)[0];  // an identical copy: no conflict
    writer.write(fake_row(p.plan, copied, 1.0 + static_cast<double>(copied)));
    writer.write(fake_row(p.plan, item, 99.0));
  }
  run = merge(with({"--expect", p.config, "--out", p.dir + "/conflict.csv"},
                   {p.files[0], p.files[1], again}));
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.output.find("measured twice with different results"), std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find(p.files[1] + " line 3 and " + again + " line 3"), std::string::npos)
      << run.output;
  EXPECT_FALSE(fs::exists(p.dir + "/conflict.csv"));
}

TEST(MergeExpect, AnOkRowReplacesAnEarlierErrorAndRowsOfOtherSweepsAreRefused) {
  const Parts p = make_parts(2);
  const std::size_t item = p.plan.items_of_shard(0)[0];
  const std::string retried = p.dir + "/retried.csv";
  {
    ResultRow failed = fake_row(p.plan, item, 1);
    failed.status = kStatusError;
    failed.time_ms.reset(), failed.time_ms_min.reset(), failed.time_ms_max.reset();
    failed.message = "out of memory";
    CsvWriter writer(retried);
    writer.write(failed);
  }
  CommandRun run = merge(
      with({"--expect", p.config, "--out", p.dir + "/all.csv"}, {retried, p.files[0], p.files[1]}));
  EXPECT_EQ(run.status, 0) << run.output;
  const auto rows = read_results_csv(p.dir + "/all.csv");
  EXPECT_EQ(rows.size(), p.plan.items.size());
  EXPECT_TRUE(std::all_of(rows.begin(), rows.end(),
                          [](const ResultRow& r) { return r.status == kStatusOk; }));
  EXPECT_NE(run.output.find("1 skipped or error row(s) were left out"), std::string::npos)
      << run.output;

  const std::string other = p.dir + "/other.csv";
  {
    ResultRow foreign = fake_row(p.plan, 0, 1);
    foreign.seq_len = foreign.query_len = 4096;
    CsvWriter writer(other);
    writer.write(foreign);
  }
  run = merge(
      with({"--expect", p.config, "--out", p.dir + "/mixed.csv"}, {p.files[0], p.files[1], other}));
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.output.find(other + " line 2"), std::string::npos) << run.output;
  EXPECT_FALSE(fs::exists(p.dir + "/mixed.csv"));
}

// kSmallSweep as command-line options.
const std::vector<std::string> kSmallSweepOptions = {
    "--variant", "flash",      "--variant",  "sliding_window:left=16,right=0",
    "--seq-len", "64,128,256", "--input",    "gaussian,local",
    "--heads",   "2",          "--head-dim", "16",
    "--threads", "1"};

TEST(MergeExpect, TheSweepsOwnOptionsAfterDashesDefineItLikeAConfig) {
  const Parts p = make_parts(2, {3});
  std::vector<std::string> args = with({"--out", p.dir + "/all.csv", "--allow-missing"}, p.files);
  args.push_back("--");
  CommandRun run = merge(with(args, kSmallSweepOptions));
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("merged 11 of 12 items"), std::string::npos) << run.output;

  args = with({"--num-shards", "2"}, p.files);
  args.push_back("--");
  run = status(with(args, kSmallSweepOptions));
  EXPECT_EQ(run.status, 1) << run.output;
  EXPECT_NE(run.output.find("attnbench sweep --variant flash --variant "
                            "sliding_window:left=16,right=0 --seq-len 64,128,256"),
            std::string::npos)
      << run.output;

  // Another sweep's options: its items are not these rows.
  std::vector<std::string> other = kSmallSweepOptions;
  other[5] = "64,128";
  args = with({"--out", p.dir + "/other.csv"}, p.files);
  args.push_back("--");
  run = merge(with(args, other));
  EXPECT_EQ(run.status, 1) << run.output;
  EXPECT_NE(run.output.find("are not items of the sweep '--variant flash"), std::string::npos)
      << run.output;
}

TEST(MergeExpect, PartsOfAnotherSplitAreRefused) {
  const Parts p = make_parts(3);
  try {
    merge(with({"--expect", p.config, "--num-shards", "4", "--out", p.dir + "/all.csv"}, p.files));
    FAIL() << "no exception";
  } catch (const UsageError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("was measured as shard 0/3, but --num-shards is 4"), std::string::npos) << m;
  }
  EXPECT_THROW(merge(with({"--allow-missing", "--out", p.dir + "/all.csv"}, p.files)), UsageError);
}

TEST(Status, CountsEachShardAndPrintsTheCommandsThatFinishIt) {
  const std::size_t gap = 2;
  Parts p = make_parts(3, {gap});
  const int owner = p.plan.shard_of[gap];
  // And one error row in another shard.
  const int other = (owner + 1) % 3;
  const std::size_t failed_item = p.plan.items_of_shard(other)[0];
  std::vector<ResultRow> rows = read_results_csv(p.files[static_cast<std::size_t>(other)]);
  fs::remove(p.files[static_cast<std::size_t>(other)]);
  {
    CsvWriter writer(p.files[static_cast<std::size_t>(other)]);
    for (ResultRow r : rows) {
      if (r.spec() == p.plan.variant_of(p.plan.items[failed_item]).spec() &&
          r.seq_len == p.plan.point_of(p.plan.items[failed_item]).shape.seq_len &&
          r.input == p.plan.point_of(p.plan.items[failed_item]).input) {
        r.status = kStatusError;
        r.message = "boom";
      }
      writer.write(r);
    }
  }
  CommandRun run = status(with({"--expect", p.config}, p.files));
  EXPECT_EQ(run.status, 1) << run.output;
  const std::size_t owned = p.plan.items_of_shard(owner).size();
  std::ostringstream owner_line;
  owner_line << owner << "/3";
  EXPECT_NE(run.output.find("12 items in 3 shards"), std::string::npos) << run.output;
  // shard  items  done  skipped  error  missing
  std::istringstream lines(run.output);
  std::string line;
  int checked = 0;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string label;
    std::size_t items = 0, done = 0, skipped = 0, error = 0, missing = 0;
    if (!(fields >> label >> items >> done >> skipped >> error >> missing)) continue;
    if (label == owner_line.str()) {
      EXPECT_EQ(items, owned);
      EXPECT_EQ(done, owned - 1);
      EXPECT_EQ(missing, 1u);
      ++checked;
    } else if (label == std::to_string(other) + "/3") {
      EXPECT_EQ(error, 1u);
      EXPECT_EQ(missing, 0u);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2) << run.output;
  EXPECT_NE(run.output.find("--num-shards 3 --shard-index " + std::to_string(owner) + " --out " +
                            p.files[static_cast<std::size_t>(owner)] + " --resume"),
            std::string::npos)
      << run.output;
  const std::string both =
      std::to_string(std::min(owner, other)) + "," + std::to_string(std::max(owner, other));
  EXPECT_NE(run.output.find("harness/slurm/submit.sh " + p.config + " 3 " + p.dir + " " + both),
            std::string::npos)
      << run.output;

  // Complete parts: exit 0.
  const Parts complete = make_parts(2);
  run = status(with({"--expect", complete.config}, complete.files));
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("complete"), std::string::npos) << run.output;
  // No file at all for a shard: every one of its items is missing, under the sbatch file name.
  run = status({"--expect", complete.config, "--num-shards", "2", complete.files[0]});
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.output.find("--shard-index 1 --out " + complete.dir + "/shard-1-of-2.csv"),
            std::string::npos)
      << run.output;
}

// The real binary: shards measured into their own files, resumed, merged, against the
// unsharded sweep; bad shard values exit 2.
TEST(ShardedSweep, ShardsOfARealSweepMergeIntoTheUnshardedItems) {
  const std::string dir = temp_dir();
  const std::string config = write_file(dir + "/small.cfg", std::string(kSmallSweep) +
                                                                "reps = 1\nmin-time = 0.001\n"
                                                                "accuracy-rows = 8\n");
  auto sweep = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {ATTNBENCH_BINARY, "sweep", "--config", config});
    return attn::testing::run_process(args, dir);
  };
  auto r = sweep({"--out", dir + "/unsharded.csv"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (int s = 0; s < 2; ++s) {
    r = sweep({"--num-shards", "2", "--shard-index", std::to_string(s), "--out",
               dir + "/shard-" + std::to_string(s) + ".csv"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // A shard resumes its own file: nothing left to measure.
  r = sweep({"--num-shards", "2", "--shard-index", "1", "--out", dir + "/shard-1.csv", "--resume"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find(", 0 to measure"), std::string::npos) << r.err;
  const auto part0 = read_results_csv(dir + "/shard-0.csv");
  const auto part1 = read_results_csv(dir + "/shard-1.csv");
  EXPECT_FALSE(part0.empty());
  EXPECT_FALSE(part1.empty());
  for (const ResultRow& row : part0) EXPECT_EQ(row.shard, "0/2");
  for (const ResultRow& row : part1) EXPECT_EQ(row.shard, "1/2");
  EXPECT_FALSE(part0[0].context.host.empty());
  r = attn::testing::run_process({ATTNBENCH_BINARY, "merge", "--expect", config, "--out",
                                  dir + "/all.csv", dir + "/shard-0.csv", dir + "/shard-1.csv"},
                                 dir);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto keys = [](const std::vector<ResultRow>& rows) {
    std::multiset<std::string> out;
    for (const ResultRow& row : rows)
      out.insert(row.spec() + " " + std::to_string(row.seq_len) + " " + row.input);
    return out;
  };
  const auto unsharded = read_results_csv(dir + "/unsharded.csv");
  EXPECT_EQ(keys(read_results_csv(dir + "/all.csv")), keys(unsharded));
  EXPECT_EQ(unsharded.size(), 12u);
  EXPECT_EQ(unsharded[0].shard, "");

  // --plan measures nothing and needs no --out.
  r = sweep({"--num-shards", "2", "--plan"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("shard 1/2: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("12 items in 2 shards"), std::string::npos) << r.out;
}

TEST(ShardedSweep, BadShardValuesExit2WithAMessage) {
  const std::string dir = temp_dir();
  const std::string config = write_file(dir + "/small.cfg", kSmallSweep);
  const std::string out = dir + "/x.csv";
  struct Case {
    std::vector<std::string> args;
    const char* variable;
    const char* value;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{"--num-shards", "4", "--shard-index", "4"}, nullptr, nullptr, "not an integer in [0, 3]"},
      {{"--num-shards", "0", "--shard-index", "0"}, nullptr, nullptr, "--num-shards: '0'"},
      {{"--num-shards", "4"}, "SLURM_ARRAY_TASK_ID", "three", "SLURM_ARRAY_TASK_ID"},
      {{}, "SLURM_ARRAY_TASK_ID", "1", "--num-shards is not given"},
      {{"--num-shards", "4"}, "JOB_COMPLETION_INDEX", "9", "JOB_COMPLETION_INDEX"},
  };
  for (const Case& c : cases) {
    if (c.variable) ::setenv(c.variable, c.value, 1);
    std::vector<std::string> args = {ATTNBENCH_BINARY, "sweep", "--config", config, "--out", out};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const auto r = attn::testing::run_process(args, dir);
    if (c.variable) ::unsetenv(c.variable);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(c.expected), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out)) << "a refused sweep wrote " << out;
  }
}

}  // namespace
}  // namespace attn::harness
