// Bad user input, run through the real attnbench binary: every case must end with the
// documented exit status (2 usage, 1 runtime) and a message that names the option or file, the
// value and what is allowed; never a crash, an abort or a hang.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "harness/io/csv.hpp"
#include "harness/io/npy.hpp"
#include "tests/support/process_support.hpp"

namespace attn::harness {
namespace {

namespace fs = std::filesystem;
using attn::testing::ProcessResult;
using attn::testing::read_text_file;
using attn::testing::run_process;

void write_file(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A .npy file around a header dict; `data` follows the padded header as is.
std::string npy_bytes(std::string header, const std::string& data) {
  const std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string s = "\x93NUMPY\x01";
  s += '\0';
  s += static_cast<char>(header.size() & 0xff);
  s += static_cast<char>(header.size() >> 8);
  return s + header + data;
}

std::string header_dict(const std::string& descr, bool fortran, const std::string& shape) {
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
         ", 'shape': " + shape + ", }";
}

std::string f32_bytes(std::vector<float> values) {
  std::string s(values.size() * sizeof(float), '\0');
  std::memcpy(s.data(), values.data(), s.size());
  return s;
}

// Fixtures shared by every case: .npy directories, config files and CSV files, each broken in
// one way.
class BadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("attnbench_bad_input_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const std::string good =
        npy_bytes(header_dict("<f4", false, "(16, 8)"), f32_bytes(std::vector<float>(128, 0.5f)));
    auto npy_dir = [&](const std::string& name, const std::string& broken_file,
                       const std::string& bytes) {
      for (const char* t : {"q.npy", "k.npy", "v.npy"})
        write_file(dir_ / name / t, t == broken_file ? bytes : good);
    };
    npy_dir("good", "", "");
    npy_dir("no_q", "", "");
    fs::remove(dir_ / "no_q" / "q.npy");
    npy_dir("truncated", "k.npy", good.substr(0, good.size() - 3));
    npy_dir("not_npy", "q.npy", "hello world\n");
    npy_dir("f8", "v.npy",
            npy_bytes(header_dict("<f8", false, "(16, 8)"), std::string(16 * 8 * 8, '\0')));
    npy_dir("big_endian", "q.npy",
            npy_bytes(header_dict(">f4", false, "(16, 8)"), std::string(16 * 8 * 4, '\0')));
    npy_dir("fortran", "q.npy",
            npy_bytes(header_dict("<f4", true, "(16, 8)"), f32_bytes(std::vector<float>(128))));
    npy_dir("mismatch", "v.npy",
            npy_bytes(header_dict("<f4", false, "(16, 4)"), f32_bytes(std::vector<float>(64))));
    std::vector<float> with_nan(128, 0.5f);
    with_nan[17] = std::numeric_limits<float>::quiet_NaN();
    npy_dir("nan", "q.npy", npy_bytes(header_dict("<f4", false, "(16, 8)"), f32_bytes(with_nan)));
    std::vector<float> with_inf(128, 0.5f);
    with_inf[0] = std::numeric_limits<float>::infinity();
    npy_dir("inf", "k.npy", npy_bytes(header_dict("<f4", false, "(16, 8)"), f32_bytes(with_inf)));
    npy_dir("three_d", "q.npy",
            npy_bytes(header_dict("<f4", false, "(2, 16, 4)"), f32_bytes(std::vector<float>(128))));
    // Serving shapes: Q [1, 4, 2, 8] over K, V [1, 2, 8, 8] is a valid grouped decode capture;
    // the others break one rule each.
    auto npy_set = [&](const std::string& name, const std::string& q_shape, std::size_t q_size,
                       const std::string& kv_shape, std::size_t kv_size) {
      write_file(dir_ / name / "q.npy", npy_bytes(header_dict("<f4", false, q_shape),
                                                  f32_bytes(std::vector<float>(q_size, 0.5f))));
      for (const char* t : {"k.npy", "v.npy"})
        write_file(dir_ / name / t, npy_bytes(header_dict("<f4", false, kv_shape),
                                              f32_bytes(std::vector<float>(kv_size, 0.25f))));
    };
    npy_set("serving", "(1, 4, 2, 8)", 64, "(1, 2, 8, 8)", 128);
    npy_set("kv_not_dividing", "(1, 4, 2, 8)", 64, "(1, 3, 8, 8)", 192);
    npy_set("more_queries", "(1, 1, 16, 8)", 128, "(8, 8)", 64);
    npy_set("batch_differs", "(2, 1, 8, 8)", 128, "(8, 8)", 64);

    write_file(dir_ / "serving.cfg",
               "variant = dense\nseq-len = 16\nquery-len = 1,4\nheads = 2\nkv-heads = 1\n"
               "head-dim = 4\nreps = 1\nmin-time = 0.001\n");
    write_file(dir_ / "bad_query_len.cfg", "seq-len = 16\nquery-len = 32\n");

    write_file(dir_ / "unknown_key.cfg", "seq-len = 64\nwindow = 3\n");
    write_file(dir_ / "bad_line.cfg", "seq-len = 64\nthis is not an option line\n");
    write_file(dir_ / "bad_value.cfg", "seq-len = sixty\n");

    ResultRow row;
    row.variant = "dense";
    row.batch = 1, row.heads = 1, row.kv_heads = 1, row.seq_len = 8, row.query_len = 8;
    row.head_dim = 4;
    row.input = "gaussian";
    row.scale = 0.5f;
    row.threads = 1;
    row.status = kStatusOk;
    const std::string header = csv_header_line() + "\n";
    std::string line = csv_line(row);
    write_file(dir_ / "other_header.csv", "a,b,c\n1,2,3\n");
    write_file(dir_ / "old_header.csv",
               csv_header_line().substr(0, csv_header_line().rfind(',')) + "\n");
    std::string bad_number = line;
    bad_number.replace(bad_number.find(",1,1,1,8,8,"), 11, ",1,1,1,eight,8,");
    write_file(dir_ / "bad_number.csv", header + bad_number + "\n");
    write_file(dir_ / "short_row.csv", header + "dense,,1,1,8\n");
    write_file(dir_ / "long_row.csv", header + line + ",extra\n");
    write_file(dir_ / "open_quote.csv", header + "\"dense" + line.substr(5) + "\n");
    write_file(dir_ / "binary.csv", std::string("\0\xff\0\xff", 4) + "\n");
  }
  static void TearDownTestSuite() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  // Runs attnbench with `args`, where "@" stands for the fixture directory.
  static ProcessResult attnbench(std::vector<std::string> args) {
    for (std::string& a : args)
      for (std::size_t at; (at = a.find('@')) != std::string::npos;)
        a.replace(at, 1, dir_.string());
    args.insert(args.begin(), ATTNBENCH_BINARY);
    const fs::path scratch = dir_ / "scratch";
    fs::create_directories(scratch);
    return run_process(args, scratch, std::chrono::seconds(60));
  }

  static fs::path dir_;
};
fs::path BadInputTest::dir_;

struct BadInput {
  const char* what;
  std::vector<std::string> args;
  int exit_code;
  std::vector<std::string> fragments;  // each must appear in stderr
};

// Fast options for the cases that get past validation.
std::vector<std::string> run_args(std::vector<std::string> extra) {
  std::vector<std::string> args = {"run", "--reps", "1", "--min-time", "0.001"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}
std::vector<std::string> resume_args(const std::string& csv) {
  return {"sweep", "--variant", "dense", "--seq-len",  "8",     "--heads",  "1",     "--head-dim",
          "4",     "--reps",    "1",     "--min-time", "0.001", "--resume", "--out", csv};
}

const std::vector<BadInput>& bad_inputs() {
  static const std::vector<BadInput> cases = {
      {"unknown command", {"frobnicate"}, 2, {"unknown command 'frobnicate'", "sweep"}},
      {"negative decode steps",
       run_args({"--variant", "flash", "--seq-len", "64", "--decode-steps", "-1"}),
       2,
       {"--decode-steps", "'-1'", "[0, 1048576]"}},
      {"a session of several queries per step",
       run_args(
           {"--variant", "flash", "--seq-len", "64", "--decode-steps", "4", "--query-len", "8"}),
       2,
       {"--query-len 8", "single queries", "--query-len 1"}},
      {"a session with shared QK",
       run_args({"--variant", "flash", "--seq-len", "64", "--decode-steps", "4", "--shared-qk"}),
       2,
       {"--shared-qk", "--decode-steps", "allowed: --shared-qk false"}},
      {"an eviction budget above the cache",
       run_args(
           {"--variant", "h2o:budget=100,recent=10", "--seq-len", "64", "--decode-steps", "4"}),
       2,
       {"h2o", "budget=100", "allowed: budget 1 to"}},
      {"an eviction window above its budget",
       run_args(
           {"--variant", "snapkv:budget=8,window=16", "--seq-len", "64", "--decode-steps", "4"}),
       2,
       {"snapkv", "window=16", "allowed: window 1 to budget"}},
      {"unknown kv-dtype",
       run_args({"--variant", "flash", "--seq-len", "64", "--kv-dtype", "int4"}),
       2,
       {"--kv-dtype", "'int4'", "allowed: fp32, bf16, int8, fp8"}},
      {"dtype and kv-dtype together",
       run_args({"--variant", "flash", "--seq-len", "64", "--dtype", "bf16", "--kv-dtype", "int8"}),
       2,
       {"--dtype bf16 with --kv-dtype int8", "give one of them"}},
      {"a quantized cache with shared QK",
       run_args({"--variant", "flash", "--seq-len", "64", "--kv-dtype", "fp8", "--shared-qk"}),
       2,
       {"--shared-qk", "quantized --kv-dtype", "allowed: --kv-dtype fp32 or bf16"}},
      {"unknown option", {"run", "--sequence-length", "4"}, 2, {"--sequence-length"}},
      {"missing value", {"run", "--seq-len"}, 2, {"--seq-len", "missing"}},
      {"unknown variant",
       run_args({"--variant", "nosuch"}),
       2,
       {"--variant", "'nosuch'", "known variants", "dense"}},
      {"unknown parameter",
       run_args({"--variant", "sliding_window:width=3"}),
       2,
       {"'width'", "allowed: left, right"}},
      {"non-numeric parameter",
       run_args({"--variant", "sliding_window:left=abc"}),
       2,
       {"'left'", "'abc'", "integer in [0,"}},
      {"parameter out of range",
       run_args({"--variant", "bigbird:block=0"}),
       2,
       {"'block'", "'0'", "[1, 65536]"}},
      {"query-aware budget out of range: topk",
       run_args({"--variant", "topk:k=0"}),
       2,
       {"'k'", "'0'", "[1, 1073741824]"}},
      {"query-aware budget out of range: topp",
       run_args({"--variant", "topp:p=1.5"}),
       2,
       {"'p'", "'1.5'", "[0.001, 1]"}},
      {"query-aware block out of range: moba",
       run_args({"--variant", "moba:block=0"}),
       2,
       {"'block'", "'0'", "[1, 1048576]"}},
      {"query-aware budget out of range: quest",
       run_args({"--variant", "quest:pages=-1"}),
       2,
       {"'pages'", "'-1'", "[0, 16777216]"}},
      {"query-aware estimate out of range: vertical_slash",
       run_args({"--variant", "vertical_slash:last=0"}),
       2,
       {"'last'", "'0'", "[1, 1073741824]"}},
      {"query-aware block out of range: block_topk",
       run_args({"--variant", "block_topk:block=0"}),
       2,
       {"'block'", "'0'", "[1, 65536]"}},
      {"window out of range: streaming",
       run_args({"--variant", "streaming:window=-1"}),
       2,
       {"'window'", "'-1'", "[0, 1073741824]"}},
      {"fractional integer parameter",
       run_args({"--variant", "flash:block=1.5"}),
       2,
       {"'block'", "'1.5'"}},
      {"parameter twice",
       run_args({"--variant", "sliding_window:left=1,left=2"}),
       2,
       {"'left' is given twice"}},
      {"empty spec", run_args({"--variant", ""}), 2, {"--variant", "expected a variant name"}},
      {"non-numeric size",
       run_args({"--seq-len", "abc"}),
       2,
       {"--seq-len", "'abc'", "[1, 67108864]"}},
      {"zero size", run_args({"--batch", "0"}), 2, {"--batch", "'0'", "[1, 1048576]"}},
      {"negative size", run_args({"--heads", "-1"}), 2, {"--heads", "'-1'"}},
      {"trailing junk", run_args({"--seq-len", "64x"}), 2, {"--seq-len", "'64x'"}},
      {"size beyond int64",
       run_args({"--seq-len", "99999999999999999999"}),
       2,
       {"--seq-len", "99999999999999999999"}},
      {"suffix overflow", run_args({"--seq-len", "9999999999999G"}), 2, {"--seq-len"}},
      {"head_dim unsupported",
       run_args({"--head-dim", "1024"}),
       2,
       {"--head-dim", "'1024'", "[1, 512]"}},
      {"threads zero", run_args({"--threads", "0"}), 2, {"--threads", "[1, 256]"}},
      {"product overflows",
       run_args({"--variant", "flash", "--batch", "1M", "--heads", "1M", "--seq-len", "64M",
                 "--head-dim", "512"}),
       2,
       {"B=1048576 H=1048576 N=67108864 D=512", "overflows"}},
      {"longformer global beyond N",
       run_args({"--variant", "longformer:global=1000", "--seq-len", "64", "--heads", "1"}),
       2,
       {"global=1000", "N=64", "global <= 64"}},
      {"empty list", {"sweep", "--out", "@/x.csv", "--seq-len", ""}, 2, {"--seq-len", "empty"}},
      {"empty list item",
       {"sweep", "--out", "@/x.csv", "--seq-len", "64,,128"},
       2,
       {"--seq-len", "'64,,128'"}},
      {"list in run", run_args({"--seq-len", "64,128"}), 2, {"--seq-len", "one value"}},
      {"bad boolean", run_args({"--causal", "maybe"}), 2, {"--causal", "'maybe'", "true or false"}},
      {"scale NaN", run_args({"--scale", "nan"}), 2, {"--scale", "'nan'"}},
      {"unknown dtype", run_args({"--dtype", "fp16"}), 2, {"--dtype", "'fp16'", "fp32, bf16"}},
      {"dtype list in run",
       run_args({"--dtype", "fp32,bf16"}),
       2,
       {"--dtype", "one value", "fp32, bf16"}},
      {"unknown dtype in a sweep list",
       {"sweep", "--out", "@/x.csv", "--dtype", "fp32,float16"},
       2,
       {"--dtype", "'float16'", "fp32, bf16"}},
      {"memory limit zero", run_args({"--memory-limit", "0"}), 2, {"--memory-limit", "'0'"}},
      {"unknown generator",
       run_args({"--input", "uniform"}),
       2,
       {"--input", "'uniform'", "gaussian, local, clustered, sinks, lm, npy:DIR"}},
      {"unknown generator in a list",
       {"sweep", "--out", "@/x.csv", "--input", "gaussian,bogus"},
       2,
       {"'bogus'", "allowed"}},
      {"npy without directory", run_args({"--input", "npy:"}), 2, {"'npy:'", "no directory"}},
      {"sweep without out", {"sweep", "--seq-len", "64"}, 2, {"--out"}},
      {"shard index out of range",
       {"sweep", "--out", "@/x.csv", "--num-shards", "4", "--shard-index", "4"},
       2,
       {"--shard-index", "'4'", "[0, 3]"}},
      {"zero shards",
       {"sweep", "--out", "@/x.csv", "--num-shards", "0", "--shard-index", "0"},
       2,
       {"--num-shards", "'0'", "[1, "}},
      {"shard index without a count",
       {"sweep", "--out", "@/x.csv", "--shard-index", "1"},
       2,
       {"--shard-index", "--num-shards is not given"}},
      {"shard count without an index",
       {"sweep", "--out", "@/x.csv", "--num-shards", "3"},
       2,
       {"--num-shards 3", "--shard-index", "SLURM_ARRAY_TASK_ID"}},
      {"status without expect", {"status", "@/x.csv"}, 2, {"--expect CONFIG"}},
      {"merge allow-missing without expect",
       {"merge", "--allow-missing", "--out", "@/y.csv", "@/x.csv"},
       2,
       {"--allow-missing", "--expect"}},
      {"npy directory missing",
       run_args({"--input", "npy:@/nope"}),
       2,
       {"nope/q.npy", "no such file"}},
      {"npy file missing", run_args({"--input", "npy:@/no_q"}), 2, {"no_q/q.npy", "no such file"}},
      {"a session as long as the npy files",
       run_args({"--variant", "flash", "--input", "npy:@/good", "--decode-steps", "16"}),
       2,
       {"--decode-steps 16", "N - T tokens", "allowed: 1 to 15 steps here"}},
      {"npy truncated",
       run_args({"--input", "npy:@/truncated"}),
       2,
       {"truncated/k.npy", "truncated", "needs 512 bytes"}},
      {"npy not npy", run_args({"--input", "npy:@/not_npy"}), 2, {"not_npy/q.npy", "magic"}},
      {"npy wrong dtype",
       run_args({"--input", "npy:@/f8"}),
       2,
       {"f8/v.npy", "'<f8'", "expected '<f4'"}},
      {"npy byte order",
       run_args({"--input", "npy:@/big_endian"}),
       2,
       {"big_endian/q.npy", "big-endian", "little-endian float32"}},
      {"npy Fortran order",
       run_args({"--input", "npy:@/fortran"}),
       2,
       {"fortran/q.npy", "fortran_order", "C order"}},
      {"npy shapes differ",
       run_args({"--input", "npy:@/mismatch"}),
       2,
       {"mismatch/v.npy", "(16, 4)", "same shape"}},
      {"npy NaN", run_args({"--input", "npy:@/nan"}), 2, {"nan/q.npy", "NaN", "(2, 1)", "finite"}},
      {"npy Inf", run_args({"--input", "npy:@/inf"}), 2, {"inf/k.npy", "infinite"}},
      {"npy rank 3",
       run_args({"--input", "npy:@/three_d"}),
       2,
       {"three_d/q.npy", "(2, 16, 4)", "expected [B, H, M, D] or [M, D]"}},
      {"npy shape vs option",
       run_args({"--input", "npy:@/good", "--seq-len", "32"}),
       2,
       {"--seq-len", "N=16"}},
      {"config missing",
       {"sweep", "--out", "@/x.csv", "--config", "@/nope.cfg"},
       2,
       {"--config", "nope.cfg"}},
      {"config is a directory",
       {"sweep", "--out", "@/x.csv", "--config", "@"},
       2,
       {"--config", "not a readable file"}},
      {"config unknown key",
       {"sweep", "--out", "@/x.csv", "--config", "@/unknown_key.cfg"},
       2,
       {"'window'", "unknown_key.cfg"}},
      {"config malformed line",
       {"sweep", "--out", "@/x.csv", "--config", "@/bad_line.cfg"},
       2,
       {"this is not an option line", "bad_line.cfg"}},
      {"config bad value",
       {"sweep", "--out", "@/x.csv", "--config", "@/bad_value.cfg"},
       2,
       {"--seq-len", "'sixty'"}},
      {"resume: another header",
       resume_args("@/other_header.csv"),
       2,
       {"other_header.csv", "another header"}},
      {"resume: older header",
       resume_args("@/old_header.csv"),
       2,
       {"old_header.csv", "another header", "missing job_id"}},
      {"resume: non-numeric field",
       resume_args("@/bad_number.csv"),
       2,
       {"bad_number.csv", "line 2", "seq_len", "'eight'"}},
      {"resume: too few columns",
       resume_args("@/short_row.csv"),
       2,
       {"short_row.csv", "line 2", "5 fields"}},
      {"resume: too many columns",
       resume_args("@/long_row.csv"),
       2,
       {"long_row.csv", "line 2", std::to_string(csv_columns().size() + 1) + " fields"}},
      {"resume: unclosed quote",
       resume_args("@/open_quote.csv"),
       2,
       {"open_quote.csv", "line 2", "not closed"}},
      {"resume: binary", resume_args("@/binary.csv"), 2, {"binary.csv", "another header"}},
      {"resume: out is a directory", resume_args("@"), 2, {"not a regular file"}},
      {"out directory missing",
       run_args({"--variant", "dense", "--out", "@/no/dir/x.csv"}),
       2,
       {"no/dir/x.csv", "No such file"}},
      {"out with another header",
       run_args({"--variant", "dense", "--out", "@/other_header.csv"}),
       2,
       {"other_header.csv", "another header"}},
      {"kv-heads not dividing heads",
       run_args({"--heads", "8", "--kv-heads", "3"}),
       2,
       {"--kv-heads", "3 does not divide --heads 8", "allowed: a divisor of 8 (1, 2, 4, 8)"}},
      {"kv-heads zero", run_args({"--kv-heads", "0"}), 2, {"--kv-heads", "'0'", "[1, 1048576]"}},
      {"kv-heads above heads",
       run_args({"--heads", "2", "--kv-heads", "4"}),
       2,
       {"--kv-heads", "4 does not divide --heads 2", "(1, 2)"}},
      {"query-len zero",
       run_args({"--query-len", "0"}),
       2,
       {"--query-len", "'0'", "[1, 67108864]"}},
      {"query-len not a number",
       run_args({"--query-len", "one"}),
       2,
       {"--query-len", "'one'", "[1, 67108864]"}},
      {"query-len above seq-len",
       run_args({"--seq-len", "64", "--query-len", "65"}),
       2,
       {"--query-len", "65 is above --seq-len 64", "allowed: 1 to 64"}},
      {"query-len list in run", run_args({"--query-len", "1,2"}), 2, {"--query-len", "one value"}},
      {"query-len above one seq-len of a sweep",
       {"sweep", "--out", "@/never.csv", "--variant", "dense", "--seq-len", "256,64", "--query-len",
        "1,100"},
       2,
       {"--query-len", "100 is above --seq-len 64", "allowed: 1 to 64"}},
      {"kv-heads not dividing one heads of a sweep",
       {"sweep", "--out", "@/never.csv", "--variant", "dense", "--heads", "4,6", "--kv-heads",
        "2,4"},
       2,
       {"--kv-heads", "4 does not divide --heads 6", "(1, 2, 3, 6)"}},
      {"shared-qk with query-len",
       run_args({"--shared-qk", "--seq-len", "64", "--query-len", "1"}),
       2,
       {"--shared-qk", "--query-len", "--kv-heads", "M=1 N=64"}},
      {"shared-qk with kv-heads in a sweep",
       {"sweep", "--out", "@/never.csv", "--shared-qk", "false,true", "--heads", "2", "--kv-heads",
        "1"},
       2,
       {"--shared-qk", "KV=1"}},
      {"serving shape overflows",
       run_args({"--variant", "flash", "--batch", "1M", "--heads", "1M", "--kv-heads", "1M",
                 "--query-len", "1", "--seq-len", "64M", "--head-dim", "512"}),
       2,
       {"B=1048576 H=1048576 M=1 N=67108864 D=512", "overflows"}},
      {"query-len in a config file",
       {"sweep", "--out", "@/never.csv", "--config", "@/bad_query_len.cfg"},
       2,
       {"--query-len", "32 is above --seq-len 16"}},
      {"pattern query-len above seq-len",
       {"pattern", "--variant", "flash", "--seq-len", "64", "--query-len", "65", "--save",
        "@/never.npy"},
       2,
       {"--query-len", "65 is above --seq-len 64"}},
      {"npy kv heads not dividing",
       run_args({"--input", "npy:@/kv_not_dividing"}),
       2,
       {"kv_not_dividing/k.npy", "(1, 3, 8, 8)", "do not divide q.npy's 4 query heads",
        "expected [1, KV, N, 8]"}},
      {"npy more queries than keys",
       run_args({"--input", "npy:@/more_queries"}),
       2,
       {"more_queries/q.npy", "(1, 1, 16, 8)", "more than the 8 keys", "M <= 8"}},
      {"npy batch differs",
       run_args({"--input", "npy:@/batch_differs"}),
       2,
       {"batch_differs/k.npy", "batch 1 differs from q.npy's 2"}},
      {"npy shape vs kv-heads",
       run_args({"--input", "npy:@/serving", "--kv-heads", "4"}),
       2,
       {"--kv-heads disagrees", "KV=2 M=2 N=8"}},
      {"npy shape vs query-len",
       run_args({"--input", "npy:@/serving", "--query-len", "8"}),
       2,
       {"--query-len disagrees", "KV=2 M=2 N=8"}},
      {"save-output is a file",
       run_args({"--variant", "dense", "--save-output", "@/good/q.npy"}),
       2,
       {"--save-output", "not a directory"}},
  };
  return cases;
}

// With ATTN_BAD_INPUT_REPORT=FILE set, each case's command, exit status and first line of
// stderr are also written to FILE as a Markdown table: the documented answer to every bad input.
void report_row(std::ofstream& report, const BadInput& c, const ProcessResult& r) {
  std::string command = "attnbench";
  for (const std::string& a : c.args) command += " " + (a.empty() ? std::string("''") : a);
  for (std::size_t at; (at = command.find('@')) != std::string::npos;)
    command.replace(at, 1, "DIR");
  std::string answer = r.err.substr(0, r.err.find('\n'));
  for (std::size_t bar = answer.find('|'); bar != std::string::npos;
       bar = answer.find('|', bar + 2))
    answer.replace(bar, 1, "\\|");
  report << "| " << c.what << " | `" << command << "` | " << r.exit_code << " | " << answer
         << " |\n";
}

TEST_F(BadInputTest, EveryBadInputGetsItsExitStatusAndAMessage) {
  const char* report_path = std::getenv("ATTN_BAD_INPUT_REPORT");
  std::ofstream report;
  if (report_path) {
    report.open(report_path);
    report << "| bad input | command | exit | first line of the answer |\n|---|---|---|---|\n";
  }
  for (const BadInput& c : bad_inputs()) {
    SCOPED_TRACE(c.what);
    const ProcessResult r = attnbench(c.args);
    if (report.is_open()) report_row(report, c, r);
    ASSERT_FALSE(r.timed_out);
    EXPECT_EQ(r.term_signal, 0) << r.err;
    EXPECT_EQ(r.exit_code, c.exit_code) << r.err;
    for (const std::string& fragment : c.fragments)
      EXPECT_NE(r.err.find(fragment), r.err.npos) << "stderr lacks '" << fragment << "':\n"
                                                  << r.err;
  }
}

// The files a bad input names are only read, never changed.
TEST_F(BadInputTest, RejectedResultsFilesAreLeftAlone) {
  const std::string before = read_text_file((dir_ / "other_header.csv").string());
  attnbench(resume_args("@/other_header.csv"));
  attnbench(run_args({"--variant", "dense", "--out", "@/other_header.csv"}));
  EXPECT_EQ(read_text_file((dir_ / "other_header.csv").string()), before);
}

// Nothing is written when a sweep is refused up front.
TEST_F(BadInputTest, RefusedSweepsWriteNoFile) {
  for (const BadInput& c : bad_inputs())
    if (std::find(c.args.begin(), c.args.end(), "@/never.csv") != c.args.end()) attnbench(c.args);
  EXPECT_FALSE(fs::exists(dir_ / "never.csv"));
  EXPECT_FALSE(fs::exists(dir_ / "never.npy"));
}

// The new options, from a config file and from .npy files, reach the CSV as numbers.
TEST_F(BadInputTest, ServingShapesFromAConfigFileAndFromNpyFilesReachTheCsv) {
  const std::string csv = (dir_ / "serving.csv").string();
  fs::remove(csv);
  ProcessResult r = attnbench({"sweep", "--config", "@/serving.cfg", "--out", csv});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto rows = read_results_csv(csv);
  ASSERT_EQ(rows.size(), 2u);
  for (const ResultRow& row : rows) {
    EXPECT_EQ(row.status, kStatusOk) << row.message;
    EXPECT_EQ(row.heads, 2);
    EXPECT_EQ(row.kv_heads, 1);
    EXPECT_EQ(row.seq_len, 16);
    // Q and the output [1, 2, M, 4], K and V [1, 1, 16, 4], 4 bytes each.
    EXPECT_EQ(row.min_bytes, 4 * (2 * 2 * row.query_len * 4 + 2 * 16 * 4)) << row.query_len;
    EXPECT_EQ(row.pairs, 2 * row.query_len * 16);
  }
  EXPECT_EQ(rows[0].query_len, 1);
  EXPECT_EQ(rows[1].query_len, 4);

  const std::string npy_csv = (dir_ / "serving_npy.csv").string();
  fs::remove(npy_csv);
  r = attnbench(run_args({"--variant", "dense", "--input", "npy:@/serving", "--out", npy_csv}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  rows = read_results_csv(npy_csv);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].status, kStatusOk) << rows[0].message;
  EXPECT_EQ(rows[0].heads, 4);
  EXPECT_EQ(rows[0].kv_heads, 2);
  EXPECT_EQ(rows[0].query_len, 2);
  EXPECT_EQ(rows[0].seq_len, 8);

  // The output of a decode point is Q's shape.
  const fs::path out_dir = dir_ / "decode_output";
  r = attnbench(
      run_args({"--variant", "dense", "--seq-len", "32", "--query-len", "3", "--heads", "4",
                "--kv-heads", "2", "--head-dim", "8", "--save-output", out_dir.string()}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string header = read_text_file((out_dir / "out.npy").string()).substr(10, 100);
  EXPECT_NE(header.find("'shape': (1, 4, 3, 8)"), std::string::npos) << header;
  // The printed table has GB/s beside GFLOP/s.
  EXPECT_NE(r.out.find("GFLOP/s  GB/s"), std::string::npos) << r.out;
}

// At decode the KV cache is what exceeds the budget: 8 query heads, 1 kv head, M = 1 and
// A decode session's row: every step timed, the cache's bytes, accuracy at the sampled steps; an
// eviction method at a square point is a skipped row saying why, in the same run.
TEST_F(BadInputTest, DecodeSessionRowsCarryStepsCacheBytesAndAccuracyByStep) {
  const std::string csv = (dir_ / "session.csv").string();
  fs::remove(csv);
  const ProcessResult r = attnbench({"sweep",
                                     "--variant",
                                     "flash",
                                     "--variant",
                                     "h2o:budget=16,recent=4",
                                     "--seq-len",
                                     "100",
                                     "--heads",
                                     "4",
                                     "--kv-heads",
                                     "2",
                                     "--head-dim",
                                     "8",
                                     "--decode-steps",
                                     "0,20",
                                     "--input",
                                     "lm",
                                     "--out",
                                     csv,
                                     "--reps",
                                     "1",
                                     "--min-time",
                                     "0.001"});
  ASSERT_FALSE(r.timed_out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = read_results_csv(csv);
  ASSERT_EQ(rows.size(), 4u);
  int sessions = 0;
  for (const ResultRow& row : rows) {
    SCOPED_TRACE(row.spec() + " decode_steps=" + std::to_string(row.decode_steps));
    if (row.decode_steps == 0) {
      if (row.variant == "h2o") {
        EXPECT_EQ(row.status, kStatusSkipped);
        EXPECT_NE(row.message.find("square (prefill) point"), std::string::npos) << row.message;
      }
      continue;
    }
    ++sessions;
    ASSERT_EQ(row.status, kStatusOk) << row.message;
    EXPECT_EQ(row.query_len, 1);
    EXPECT_EQ(row.seq_len, 100);
    EXPECT_EQ(row.reps, 20);
    EXPECT_TRUE(row.time_ms && row.step_ms_p99 && row.prefill_ms && row.cache_bytes);
    EXPECT_LE(*row.time_ms_min, *row.time_ms);
    EXPECT_LE(*row.time_ms, *row.step_ms_p99);
    // 8 sampled steps, the first 0 and the last 19.
    const std::string& steps = row.accuracy_by_step;
    EXPECT_EQ(std::count(steps.begin(), steps.end(), ';'), 7) << steps;
    EXPECT_EQ(steps.rfind("0:", 0), 0u) << steps;
    EXPECT_NE(steps.find(";19:"), std::string::npos) << steps;
    if (row.variant == "flash") {
      // All 120 keys, K and V in fp32, over 2 kv heads of 8 dims; exact at every step.
      EXPECT_EQ(*row.cache_bytes, 2 * 2 * 120 * 8 * 4);
      EXPECT_LT(*row.rel_err_last, 1e-5);
      EXPECT_EQ(*row.mass_recall_first, 1.0);
    } else {
      // 16 kept tokens per kv head, plus the kept lists and their scores (12 bytes a token).
      EXPECT_EQ(*row.cache_bytes, 2 * 2 * 16 * 8 * 4 + 2 * 16 * 12);
      EXPECT_LT(*row.mass_recall_last, 1.0);
      EXPECT_GT(*row.rel_err_last, 1e-4);
      EXPECT_EQ(*row.pairs, 4 * 16);  // every step attends the budget, per query head
    }
  }
  EXPECT_EQ(sessions, 2);
}

// A session over .npy files: the files hold every position, the cache is all but the last T,
// q.npy's last rows are the observation window and the step queries.
TEST_F(BadInputTest, DecodeSessionOverNpyFilesCachesAllButTheLastSteps) {
  const std::string csv = (dir_ / "npy_session.csv").string();
  fs::remove(csv);
  const ProcessResult r =
      attnbench({"sweep", "--variant", "flash", "--variant", "quest:page=4,pages=1", "--input",
                 "npy:" + (dir_ / "good").string(), "--decode-steps", "4", "--out", csv, "--reps",
                 "1", "--min-time", "0.001"});
  ASSERT_FALSE(r.timed_out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = read_results_csv(csv);
  ASSERT_EQ(rows.size(), 2u);
  for (const ResultRow& row : rows) {
    SCOPED_TRACE(row.spec());
    ASSERT_EQ(row.status, kStatusOk) << row.message;
    EXPECT_EQ(row.seq_len, 12);
    EXPECT_EQ(row.query_len, 1);
    EXPECT_EQ(row.decode_steps, 4);
    EXPECT_EQ(row.reps, 4);
    // Every value of the good files is equal: exact attention is the value itself.
    if (row.variant == "flash") {
      EXPECT_LT(*row.rel_err_last, 1e-6);
    }
  }
}

// A quantized cache is a point axis: each row names its format, its bytes per token and the
// path that read it, and the session's cache counts the codes and scales, not fp32.
TEST_F(BadInputTest, QuantizedCacheRowsNameTheirFormatBytesAndPath) {
  const std::string csv = (dir_ / "quantized.csv").string();
  fs::remove(csv);
  const ProcessResult r = attnbench({"sweep",
                                     "--variant",
                                     "flash",
                                     "--variant",
                                     "dense",
                                     "--seq-len",
                                     "100",
                                     "--heads",
                                     "4",
                                     "--kv-heads",
                                     "2",
                                     "--head-dim",
                                     "8",
                                     "--kv-dtype",
                                     "fp32,int8,fp8",
                                     "--decode-steps",
                                     "0,5",
                                     "--query-len",
                                     "1",
                                     "--input",
                                     "lm",
                                     "--out",
                                     csv,
                                     "--reps",
                                     "1",
                                     "--min-time",
                                     "0.001"});
  ASSERT_FALSE(r.timed_out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = read_results_csv(csv);
  ASSERT_EQ(rows.size(), 12u);
  for (const ResultRow& row : rows) {
    SCOPED_TRACE(row.spec() + " " + row.kv_dtype + " steps " + std::to_string(row.decode_steps));
    ASSERT_EQ(row.status, kStatusOk) << row.message;
    EXPECT_EQ(row.dtype, "fp32");
    // Per token over 2 kv heads of 8 dims, K and V: fp32 4 bytes a value, int8 1 plus a 4-byte
    // scale per row, fp8 1.
    const std::int64_t per_token = row.kv_dtype == "fp32"   ? 2 * 2 * 8 * 4
                                   : row.kv_dtype == "int8" ? 2 * 2 * (8 + 4)
                                                            : 2 * 2 * 8;
    EXPECT_EQ(row.kv_bytes_per_token, per_token);
    if (row.decode_steps > 0) {
      EXPECT_EQ(row.cache_bytes, 105 * per_token);
    }
    if (row.kv_dtype == "fp32") {
      EXPECT_LT(*row.rel_err, 1e-5);
      continue;
    }
    // The cache's rounding shows in rel_err (against the fp32 cache), not in rel_err_kernel
    // (against the values the cache holds).
    EXPECT_GT(*row.rel_err, 1e-4);
    EXPECT_LT(*row.rel_err, row.kv_dtype == "int8" ? 0.05 : 0.2);
    EXPECT_LT(*row.rel_err_kernel, 1e-5);
    const std::string path =
        row.variant == "dense" ? "fp32-copy-of-" + row.kv_dtype : row.kv_dtype + "-dequant-on-load";
    EXPECT_NE(row.kernel.find(path), std::string::npos) << row.kernel;
  }
}

// N = 64M, D = 1 need 512 MiB for K and V (and 64 bytes for Q and the output). Square, the same
// options would need 8 GiB.
TEST_F(BadInputTest, DecodePointOverTheMemoryBudgetIsSkippedOnItsKvCache) {
  const std::string csv = (dir_ / "skipped_decode.csv").string();
  fs::remove(csv);
  const ProcessResult r = attnbench(
      run_args({"--variant", "flash", "--memory-limit", "256M", "--seq-len", "64M", "--query-len",
                "1", "--heads", "8", "--kv-heads", "1", "--head-dim", "1", "--out", csv}));
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto rows = read_results_csv(csv);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].status, kStatusSkipped);
  EXPECT_NE(rows[0].message.find("Q, K, V and the output need 0.50 GiB (K and V 0.50 GiB), over "
                                 "the memory limit of 0.25 GiB"),
            std::string::npos)
      << rows[0].message;
  EXPECT_EQ(rows[0].min_bytes, 4 * (2 * 8 + 2 * (std::int64_t{64} << 20)));
  EXPECT_EQ(rows[0].query_len, 1);
  EXPECT_EQ(rows[0].kv_heads, 1);
}

// A point over the memory budget is a `skipped` row, not an error, and costs no time: at
// N=64M the textbook dense N×N buffer needs 16 PiB (the inputs would fit, but none are built
// since no variant will run), and Q, K, V alone exceed a 1 MiB budget.
TEST_F(BadInputTest, PointOverTheMemoryBudgetIsASkippedRow) {
  const std::string csv = (dir_ / "skipped.csv").string();
  const std::vector<std::string> point = {"--seq-len",  "64M", "--heads", "1",
                                          "--head-dim", "1",   "--out",   csv};
  auto args = run_args({"--variant", "dense", "--memory-limit", "2G"});
  args.insert(args.end(), point.begin(), point.end());
  ProcessResult r = attnbench(args);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  args = run_args({"--variant", "flash", "--memory-limit", "1M"});
  args.insert(args.end(), point.begin(), point.end());
  r = attnbench(args);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto rows = read_results_csv(csv);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].status, kStatusSkipped);
  EXPECT_NE(rows[0].message.find("over the memory limit of 2.00 GiB"), std::string::npos)
      << rows[0].message;
  EXPECT_EQ(rows[1].status, kStatusSkipped);
  EXPECT_NE(rows[1].message.find("Q, K, V and the output need 1.00 GiB"), std::string::npos)
      << rows[1].message;
}

TEST(ResultsCsv, TornLastLineIsNeverParsed) {
  ResultRow row;
  row.variant = "dense";
  row.input = "gaussian";
  row.status = kStatusOk;
  const std::string whole = csv_header_line() + "\n" + csv_line(row) + "\n";
  // Every cut of the last row, including ones that would parse as a shorter row.
  const std::string text = whole + csv_line(row) + "\n";
  for (std::size_t cut = whole.size(); cut < text.size(); ++cut) {
    std::size_t torn = 0;
    const auto rows = parse_results_csv(std::string_view(text).substr(0, cut), "t.csv", &torn);
    EXPECT_EQ(rows.size(), 1u);
    EXPECT_EQ(torn, cut - whole.size());
  }
  EXPECT_EQ(parse_results_csv(text, "t.csv").size(), 2u);
  EXPECT_TRUE(parse_results_csv("", "empty.csv").empty());
  EXPECT_TRUE(parse_results_csv(csv_header_line().substr(0, 20), "torn_header.csv").empty());
}

TEST(ResultsCsv, WriterCutsATornTailBeforeAppending) {
  const fs::path path =
      fs::temp_directory_path() / ("attnbench_torn_" + std::to_string(::getpid()) + ".csv");
  ResultRow row;
  row.variant = "dense";
  row.input = "gaussian";
  row.status = kStatusOk;
  const std::string whole = csv_header_line() + "\n" + csv_line(row) + "\n";
  write_file(path, whole + csv_line(row).substr(0, 30));
  {
    CsvWriter writer(path.string());
    EXPECT_EQ(writer.dropped_torn_bytes(), 30u);
    writer.write(row);
  }
  EXPECT_EQ(read_text_file(path.string()), whole + csv_line(row) + "\n");
  fs::remove(path);
}

}  // namespace
}  // namespace attn::harness
