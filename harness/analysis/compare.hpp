#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <tuple>
#include <vector>

#include "harness/io/result_row.hpp"

namespace attn::harness {

// What identifies a measurement across results files: every input of the run, no result:
// (variant, params, batch, heads, kv_heads, seq_len, query_len, head_dim, causal, shared_qk,
// input, seed, scale, threads). Rows read from a CSV without kv_heads and query_len key as
// square, so they match the same square points of a newer file.
using ResultKey = std::tuple<std::string, std::string, std::int64_t, std::int64_t, std::int64_t,
                             std::int64_t, std::int64_t, std::int64_t, std::string, std::string,
                             bool, bool, std::string, std::uint64_t, float, int, std::int64_t>;
ResultKey result_key(const ResultRow& row);

// The point of a row in a few words, e.g. "N=4096 B1 H8 D64 causal local seed=42 T2", with
// "M=1" after N and "KV2" after H when they differ from the square case.
std::string point_summary(const ResultRow& row);

// What `attnbench compare` compares, and how (cli/ parses the command line into it).
struct CompareOptions {
  std::string base;
  std::string fresh;
  double threshold = 0.05;    // a fraction: a row slower (faster) by more is marked
  double min_time_ms = 0.05;  // rows are marked only when both times exceed this
  bool fail_on_regression = false;
};

// Joins the two files' ok rows on their ResultKey and prints time ratios and accuracy changes
// to `out`. Returns 0, or 1 with fail_on_regression when a row is slower beyond the threshold.
// Throws std::invalid_argument for unreadable or malformed files.
int compare_results(const CompareOptions& options, std::ostream& out);

}  // namespace attn::harness
