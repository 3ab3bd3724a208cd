#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "harness/io/machine.hpp"

namespace attn::harness {

// One CSV row: one variant measured at one point. Measured fields are empty unless the
// status is "ok"; a skipped or failed point still gets a row that says why.
struct ResultRow {
  // What was run: enough to reproduce it.
  std::string variant;
  std::string params;
  std::int64_t batch = 0;
  std::int64_t heads = 0;      // query heads
  std::int64_t kv_heads = 0;   // key/value heads; divides heads (= heads when square)
  std::int64_t seq_len = 0;    // keys N
  std::int64_t query_len = 0;  // queries M, the last M of the N positions (= seq_len when square)
  std::int64_t head_dim = 0;
  std::string dtype = "fp32";  // the stored element type of Q, K, V: fp32 or bf16
  // The KV cache's format: the dtype's, or int8 / fp8 (quantized, kv_quantization.hpp).
  std::string kv_dtype = "fp32";
  bool causal = false;
  bool shared_qk = false;
  std::string input;
  std::uint64_t seed = 0;
  float scale = 0;
  int threads = 0;
  // Decode sessions: the steps after the seq_len cached tokens (0: a single forward). A session
  // row's time_ms is the median step, time_ms_min and time_ms_max the 10th and 90th percentile
  // steps, reps the steps, pairs the mean per step, rel_err and mass_recall the means over the
  // sampled steps.
  std::int64_t decode_steps = 0;

  // What was measured.
  std::optional<int> reps;
  std::optional<double> time_ms;  // median over repetitions, real time per forward
  std::optional<double> time_ms_min;
  std::optional<double> time_ms_max;
  // Median milliseconds of a forward spent choosing keys from the inputs (query-aware variants;
  // included in time_ms); empty for fixed patterns.
  std::optional<double> select_ms;
  std::optional<std::int64_t> pairs;  // computed (query, key) pairs over batch and heads
  std::optional<double> gflops;       // 4 · pairs · head_dim / time
  // Compulsory memory traffic of one forward: 4 bytes × (B·H·M·D for Q + 2·B·kv·N·D for K and V
  // + B·H·M·D for the output). Known from the shape, so every row written has it; empty only in
  // rows read from a CSV written before the column existed.
  std::optional<std::int64_t> min_bytes;
  // Bytes one token's K and V take in the cache over every kv head (scales included).
  std::optional<std::int64_t> kv_bytes_per_token;
  std::optional<std::int64_t> peak_bytes;
  std::optional<std::int64_t> rss_delta_bytes;
  std::optional<std::int64_t> predicted_bytes;
  std::optional<double> rel_err;
  // Against fp64 attention over the dtype-rounded inputs restricted to the variant's own keys:
  // the kernel's own rounding, without the sparsity and without the inputs' rounding.
  std::optional<double> rel_err_kernel;
  std::optional<double> max_abs_err;
  std::optional<double> cos_sim_min;
  std::optional<double> mass_recall;
  std::optional<std::int64_t> accuracy_rows;  // sampled query rows per (batch, head)
  // Sessions only: the state built from the cached tokens, the 99th-percentile step, the
  // cache's bytes after the last step (K and V of every kept token plus the variant's state),
  // and accuracy at the first and last sampled steps.
  std::optional<double> prefill_ms;
  std::optional<double> step_ms_p99;
  std::optional<std::int64_t> cache_bytes;
  std::optional<double> rel_err_first, rel_err_last;
  std::optional<double> mass_recall_first, mass_recall_last;
  // Every sampled step as "step:rel_err:mass_recall", ';'-separated (step 0-based): the curve of
  // error against step.
  std::string accuracy_by_step;

  std::string status;  // "ok", "skipped" or "error"
  std::string message;

  MachineContext context;
  std::string kernel;  // the kernel path that ran (avx512, avx2, openblas_sgemm, ...)
  std::string timestamp;
  // Where in a sweep spread over machines the row was measured (context.host is the machine).
  std::string shard;   // "I/N": shard I (0-based) of N; empty when the sweep was not sharded
  std::string job_id;  // the scheduler's job (SLURM_JOB_ID), or empty

  std::string spec() const { return params.empty() ? variant : variant + ":" + params; }
  bool square() const { return query_len == seq_len && kv_heads == heads; }
};

inline constexpr const char* kStatusOk = "ok";
inline constexpr const char* kStatusSkipped = "skipped";
inline constexpr const char* kStatusError = "error";

}  // namespace attn::harness
