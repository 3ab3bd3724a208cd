// `attnbench pattern` writes exactly the key sets that keys() returns, which is what the fp64
// reference and the recall metric use, for data-independent and data-dependent variants alike.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "attention/registry.hpp"
#include "harness/inputs.hpp"
#include "process_support.hpp"

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
};

TEST(PatternExport, WritesTheKeySetOfEveryQuery) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("attnbench_pattern_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::vector<PatternCase> cases = {
      {"sliding_window:left=5,right=3", "gaussian", 100, 2, true},
      {"longformer:left=4,right=4,global=2,dilation=2", "gaussian", 77, 1, false},
      {"bigbird:block=16,window=3,global=2,random=2,seed=9", "gaussian", 100, 2, false},
      {"lsh:hashes=2,chunk=16", "clustered", 128, 2, false},
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
    const auto result = testing::run_process(args, dir);
    ASSERT_EQ(result.exit_code, 0) << c.spec << ": " << result.err;

    std::string header;
    const std::string payload = npy_payload(testing::read_text_file(save), header);
    EXPECT_NE(header.find("'|u1'"), std::string::npos) << header;
    const std::string n = std::to_string(c.seq_len);
    EXPECT_NE(header.find("(" + std::to_string(c.heads) + ", " + n + ", " + n + ")"),
              std::string::npos)
        << header;
    ASSERT_EQ(payload.size(), static_cast<std::size_t>(c.heads * c.seq_len * c.seq_len));

    const Shape shape{1, c.heads, c.seq_len, 64};
    const auto tensors = harness::make_inputs(c.input, shape, 3);
    const AttentionInputs inputs{tensors.q.view(), tensors.k.view(), tensors.v.view(), c.causal,
                                 default_scale(64)};
    const auto variant = make_variant(c.spec);
    std::vector<std::int64_t> keys;
    for (std::int64_t h = 0; h < c.heads; ++h)
      for (std::int64_t q = 0; q < c.seq_len; ++q) {
        variant->keys(inputs, 0, h, q, keys);
        std::string want(static_cast<std::size_t>(c.seq_len), '\0');
        for (std::int64_t k : keys) want[static_cast<std::size_t>(k)] = 1;
        ASSERT_EQ(payload.substr(static_cast<std::size_t>((h * c.seq_len + q) * c.seq_len),
                                 static_cast<std::size_t>(c.seq_len)),
                  want)
            << c.spec << " head " << h << " query " << q;
      }
  }
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

}  // namespace
}  // namespace attn
