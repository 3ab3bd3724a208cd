// `attnbench pattern` writes exactly the key sets that keys() returns, which is what the fp64
// reference and the recall metric use, for data-independent and data-dependent variants alike.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cctype>

#include <cstring>
#include <filesystem>

#include "attention/core/registry.hpp"
#include "harness/measure/inputs.hpp"
#include "tests/support/process_support.hpp"

namespace attn {
namespace {

// The payload of a uint8 .npy file (format 1.0, as attnbench writes it) and its header text.
std::string npy_payload(const std::string& bytes, std::string& header) {
  EXPECT_GE(bytes.size(), 10u);
  EXPECT_EQ(bytes.substr(0, 6), "\x93NUMPY");
  const auto header_len = static_cast<std::size_t>(static_cast<unsigned char>(bytes[8])) |
                          static_cast<std::size_t>(static_cast<unsigned char>(bytes[9])) << 8;
  header = bytes.substr(10, header_len);
  return bytes.substr(10 + header_len);
}

struct PatternCase {
  std::string spec, input;
  std::int64_t seq_len, heads;
  bool causal;
  std::int64_t kv_heads = 0, query_len = 0;  // 0: leave the option out (square)
};

std::string npy_shape(std::int64_t a, std::int64_t b, std::int64_t c) {
  return "(" + std::to_string(a) + ", " + std::to_string(b) + ", " + std::to_string(c) + ")";
}

TEST(PatternExport, WritesTheKeySetOfEveryQuery) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("attnbench_pattern_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::vector<PatternCase> cases = {
      {"sliding_window:left=5,right=3", "gaussian", 100, 2, true},
      {"longformer:left=4,right=4,global=2,dilation=2", "gaussian", 77, 1, false},
      {"bigbird:block=16,window=3,global=2,random=2,seed=9", "gaussian", 100, 2, false},
      {"lsh:hashes=2,chunk=16", "clustered", 128, 2, false},
      // Serving shapes: [H, M, N], the last M queries, grouped kv heads.
      {"sliding_window:left=5,right=3", "local", 100, 4, true, 2, 7},
      {"longformer:left=4,right=4,global=2,dilation=2", "gaussian", 77, 2, false, 1, 20},
      {"bigbird:block=16,window=3,global=2,random=2,seed=9", "gaussian", 100, 2, false, 2, 1},
      {"flash", "sinks", 50, 2, true, 1, 50},
  };
  for (const PatternCase& c : cases) {
    const std::string save = (dir / "pattern.npy").string();
    std::vector<std::string> args = {ATTNBENCH_BINARY, "pattern",
                                     "--variant",      c.spec,
                                     "--seq-len",      std::to_string(c.seq_len),
                                     "--heads",        std::to_string(c.heads),
                                     "--input",        c.input,
                                     "--seed",         "3",
                                     "--save",         save};
    if (c.causal) args.push_back("--causal");
    if (c.kv_heads) args.insert(args.end(), {"--kv-heads", std::to_string(c.kv_heads)});
    if (c.query_len) args.insert(args.end(), {"--query-len", std::to_string(c.query_len)});
    const auto result = testing::run_process(args, dir);
    ASSERT_EQ(result.exit_code, 0) << c.spec << ": " << result.err;

    const std::int64_t n = c.seq_len, m = c.query_len ? c.query_len : n;
    std::string header;
    const std::string payload = npy_payload(testing::read_text_file(save), header);
    EXPECT_NE(header.find("'|u1'"), std::string::npos) << header;
    EXPECT_NE(header.find(npy_shape(c.heads, m, n)), std::string::npos) << header;
    ASSERT_EQ(payload.size(), static_cast<std::size_t>(c.heads * m * n));

    const AttentionShape shape{1, c.heads, c.kv_heads ? c.kv_heads : c.heads, m, n, 64};
    const auto tensors = harness::make_inputs(c.input, shape, 3);
    const AttentionInputs inputs{tensors.q.view(), tensors.k.view(), tensors.v.view(), c.causal,
                                 default_scale(64)};
    const auto variant = make_variant(c.spec);
    std::vector<std::int64_t> keys;
    for (std::int64_t h = 0; h < c.heads; ++h)
      for (std::int64_t q = 0; q < m; ++q) {
        variant->keys(inputs, 0, h, q, keys);
        std::string want(static_cast<std::size_t>(n), '\0');
        for (std::int64_t k : keys) want[static_cast<std::size_t>(k)] = 1;
        ASSERT_EQ(
            payload.substr(static_cast<std::size_t>((h * m + q) * n), static_cast<std::size_t>(n)),
            want)
            << c.spec << " head " << h << " query " << q;
      }
  }
  std::filesystem::remove_all(dir);
}

// A data-independent pattern speaks absolute positions: the decode export is the last M rows
// of the square export.
TEST(PatternExport, DecodeRowsAreTheTailOfTheSquarePattern) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("attnbench_pattern_tail_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::int64_t n = 96, m = 5;
  std::string payloads[2];
  for (int decode = 0; decode < 2; ++decode) {
    const std::string save = (dir / "p.npy").string();
    std::vector<std::string> args = {
        ATTNBENCH_BINARY, "pattern",
        "--variant",      "bigbird:block=16,window=3,global=1,random=2,seed=4",
        "--seq-len",      std::to_string(n),
        "--heads",        "2",
        "--save",         save};
    if (decode) args.insert(args.end(), {"--query-len", std::to_string(m)});
    const auto result = testing::run_process(args, dir);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    std::string header;
    payloads[decode] = npy_payload(testing::read_text_file(save), header);
  }
  ASSERT_EQ(payloads[0].size(), static_cast<std::size_t>(2 * n * n));
  ASSERT_EQ(payloads[1].size(), static_cast<std::size_t>(2 * m * n));
  for (std::int64_t h = 0; h < 2; ++h)
    EXPECT_EQ(
        payloads[1].substr(static_cast<std::size_t>(h * m * n), static_cast<std::size_t>(m * n)),
        payloads[0].substr(static_cast<std::size_t>((h * n + n - m) * n),
                           static_cast<std::size_t>(m * n)))
        << "head " << h;
  std::filesystem::remove_all(dir);
}

TEST(PatternExport, RefusesSequencesAbove8192) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("attnbench_pattern_big_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto result =
      testing::run_process({ATTNBENCH_BINARY, "pattern", "--variant", "flash", "--seq-len", "16384",
                            "--save", (dir / "p.npy").string()},
                           dir);
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("up to 8192"), std::string::npos) << result.err;
  std::filesystem::remove_all(dir);
}

// Help text with its line wrapping undone.
std::string one_line(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool space = std::isspace(static_cast<unsigned char>(c)) != 0;
    if (space && (out.empty() || out.back() == ' ')) continue;
    out += space ? ' ' : c;
  }
  return out;
}

// The help describes what pattern does: one variant, one head unless --heads says otherwise.
TEST(PatternExport, HelpSaysOneVariantAndOneHead) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("attnbench_pattern_help_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto help = testing::run_process({ATTNBENCH_BINARY, "pattern", "--help"}, dir);
  help.out = one_line(help.out);
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_EQ(help.out.find("repeat for several"), std::string::npos) << help.out;
  EXPECT_EQ(help.out.find("default 8"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("query heads (default 1)"), std::string::npos) << help.out;
  auto sweep = testing::run_process({ATTNBENCH_BINARY, "sweep", "--help"}, dir);
  sweep.out = one_line(sweep.out);
  EXPECT_NE(sweep.out.find("query heads (default 8"), std::string::npos) << sweep.out;
  EXPECT_NE(sweep.out.find("repeat for several"), std::string::npos) << sweep.out;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace attn
