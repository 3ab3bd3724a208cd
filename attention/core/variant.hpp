#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attention/core/cache_state.hpp"
#include "attention/core/params.hpp"
#include "attention/core/quantized_tensor.hpp"
#include "attention/core/tensor.hpp"

namespace attn {

// What a forward pass reads: Q is [B, H, M, D], K and V are [B, kv_heads, N, D], fp32, row-major,
// 64-byte aligned (see AttentionShape for what the dimensions mean). Causal and every pattern
// speak absolute positions: query i is position N - M + i.
//
// With dtype bf16 the forward reads q16, k16 and v16, and q, k, v hold the same values widened
// to fp32 (what keys() and LSH's hashing read; make_bf16_inputs builds both).
//
// With a quantized cache (kq, vq set; make_quantized_cache) the engine's kernels read K and V
// from kq and vq, dequantizing as they load, and k and v hold the dequantized values.
struct AttentionInputs {
  TensorView q, k, v;
  bool causal = false;
  float scale = 1.0f;  // multiplies Q·Kᵀ; default_scale(head_dim) unless the user overrides
  Dtype dtype = Dtype::kFp32;
  Bf16TensorView q16{}, k16{}, v16{};
  QuantizedTensorView kq{}, vq{};

  AttentionShape shape() const {
    AttentionShape s{q.shape.batch,   q.shape.heads,   k.shape.heads,
                     q.shape.seq_len, k.shape.seq_len, q.shape.head_dim};
    s.dtype = dtype;
    s.kv_quantization = kq.format;
    return s;
  }
  bool quantized_cache() const { return !kq.empty(); }
  // K's and V's rows of the kv head that query head h reads.
  const float* k_head(std::int64_t b, std::int64_t h) const {
    return k.head(b, h / (q.shape.heads / k.shape.heads));
  }
  const float* v_head(std::int64_t b, std::int64_t h) const {
    return v.head(b, h / (q.shape.heads / k.shape.heads));
  }
  const bf16* k16_head(std::int64_t b, std::int64_t h) const {
    return k16.head(b, h / (q.shape.heads / k.shape.heads));
  }
  const bf16* v16_head(std::int64_t b, std::int64_t h) const {
    return v16.head(b, h / (q.shape.heads / k.shape.heads));
  }
  QuantizedRows kq_head(std::int64_t b, std::int64_t h) const {
    return kq.head(b, h / (q.shape.heads / k.shape.heads));
  }
  QuantizedRows vq_head(std::int64_t b, std::int64_t h) const {
    return vq.head(b, h / (q.shape.heads / k.shape.heads));
  }
};

// bf16 copies of fp32 tensors, and the fp32 tensors rounded in place to the same values, so
// that both halves of a bf16 AttentionInputs agree.
struct Bf16Copies {
  Bf16Tensor q, k, v;
};
// Rounds q, k and v in place to bf16 values and returns their bf16 copies; `inputs` then reads
// them (dtype bf16). K may be Q's own storage (shared QK): it is rounded once.
Bf16Copies make_bf16_inputs(Tensor& q, Tensor& k, Tensor& v, AttentionInputs& inputs);

// A quantized KV cache: K and V quantized (and rounded in place to the quantized values), the
// inputs then read their codes. fp8's per-head scales come from the first `scale_rows` rows.
struct QuantizedCache {
  QuantizedTensor k, v;
};
QuantizedCache make_quantized_cache(Tensor& k, Tensor& v, AttentionInputs& inputs,
                                    KvQuantization format, std::int64_t scale_rows = 0);

// 1/sqrt(head_dim), the scale of "Attention Is All You Need".
float default_scale(std::int64_t head_dim);

// Throws std::invalid_argument unless Q, K, V and `out` form a valid AttentionShape (K and V
// alike, `out` like Q), their storage matches, and the scale is finite.
void check_inputs(const AttentionInputs& inputs, const MutableTensorView& out);

// What one forward pass costs, known before it runs.
struct Cost {
  // (query, key) pairs the variant computes, summed over batch and heads. For a data-dependent
  // key set this is an upper bound; Variant::pairs() gives the exact count for given inputs.
  std::int64_t pairs = 0;
  // Bytes the forward allocates beyond its inputs and output (its workspace), at peak.
  std::int64_t workspace_bytes = 0;
};

// One term of a query row's output: `gate` times exact softmax attention over `keys`, each
// key's score raised by its log-weight (an importance weight 1/p enters as -log p), reading K's
// and V's rows `keys` or, when k_rows is set, rows the variant derives from them (NSA's block
// summaries: k_rows and v_rows hold keys.size() × head_dim values, and `keys` then only names
// them). An empty key set contributes nothing.
struct AttentionTerm {
  double gate = 1.0;
  std::vector<std::int64_t> keys;
  std::vector<double> log_weights;     // empty: every key's weight is 1
  std::vector<double> k_rows, v_rows;  // empty: the inputs' own rows
  bool reads_inputs() const { return k_rows.empty(); }
};

// An attention variant. Build one with make_variant("name:key=value,...") (registry.hpp).
//
// The contract every variant keeps, and the registry test checks: forward() equals the sum of
// the terms() of each query row, computed exactly (fp64). For all but a few variants that is one
// term of gate 1 over keys(): exact softmax attention where query i of problem (b, h) attends
// exactly the keys that keys() returns for it (an empty key set gives a zero row).
class Variant {
 public:
  explicit Variant(VariantConfig config) : config_(std::move(config)) {}
  virtual ~Variant() = default;
  Variant(const Variant&) = delete;
  Variant& operator=(const Variant&) = delete;

  const std::string& name() const { return config_.name(); }
  std::string params() const { return config_.canonical_params(); }
  std::string spec() const { return config_.spec(); }
  const VariantConfig& config() const { return config_; }

  // Why this variant cannot serve shapes like this one at all, whatever its parameters (a
  // capability the method lacks, e.g. a rule that needs as many queries as keys); empty
  // when it can. A sweep records such points as skipped rows with this reason instead of
  // refusing the whole sweep; check() throws the same reason.
  virtual std::string unsupported(const AttentionShape& shape, bool causal) const;

  // Throws std::invalid_argument when the parameters cannot serve this shape (for example a
  // block larger than allowed); the message names the parameter and what is allowed.
  virtual void check(const AttentionShape& shape, bool causal) const;

  // Computes attention into `out`, parallel inside with oneTBB (the caller's task_arena sets
  // how many threads).
  virtual void forward(const AttentionInputs& inputs, MutableTensorView out) const = 0;

  // The sorted, distinct keys (0..N-1) that query `query` (0..M-1, at position N - M + query) of
  // problem (b, h) attends, appended to `out` after clearing it; h is the query head.
  virtual void keys(const AttentionInputs& inputs, std::int64_t b, std::int64_t h,
                    std::int64_t query, std::vector<std::int64_t>& out) const = 0;

  // The output of one query row as a sum of terms, appended to `out` after clearing it. Default:
  // one term of gate 1 over keys(). A variant whose output is not attention over one key set
  // (importance-weighted samples, a gated mixture of branches) overrides it, and its keys() then
  // lists the rows of K its terms read (for the attention-mass recall) and pairs() counts the
  // keys of every term.
  virtual void terms(const AttentionInputs& inputs, std::int64_t b, std::int64_t h,
                     std::int64_t query, std::vector<AttentionTerm>& out) const;

  virtual Cost cost(const AttentionShape& shape, bool causal, int threads) const = 0;

  // The kernel path forward() takes in this dtype on this CPU (the CSV's `kernel`): the block
  // engine's by default (see kernel::path_name).
  virtual std::string kernel(Dtype dtype) const;
  // Whether the forward reads a quantized cache's codes (dequantizing as it loads) rather than
  // the fp32 copy of the same values: true for every path on the block engine and the gathers.
  virtual bool reads_quantized_cache(const AttentionShape&) const { return true; }

  // Exact computed pairs for these inputs; differs from cost().pairs only for variants whose
  // key set depends on the data.
  virtual std::int64_t pairs(const AttentionInputs& inputs) const;

  // Milliseconds the last forward() or decode_step() of this object spent choosing its keys
  // from the inputs (query-aware variants, the CSV's select_ms); empty for fixed patterns.
  virtual std::optional<double> last_select_ms() const { return std::nullopt; }

  // ---- Decode sessions (cache_state.hpp) --------------------------------------------------
  // A session loads N cached tokens, then appends one token per step and attends with its
  // query: every step is a forward with M = 1 over the grown cache. The stateless variants need
  // none of this; the defaults make a step a plain forward.

  // Whether this variant keeps a cache of its own, dropping keys for good (eviction): its key
  // set then depends on the steps before, and square (prefill) points are not its to serve.
  virtual bool evicts() const { return false; }
  // Whether the query heads of a kv group attend one key set they choose together (an eviction
  // cache, DSA's per-token selection), so grouped heads differ from repeated kv heads by design.
  virtual bool group_chooses_together() const { return evicts(); }

  // The state kept with a cache of `prefill`'s N keys, built at once (a prefill or a load);
  // prefill.q holds the prompt's last queries (the observation window some methods score the
  // cache with), at positions N - M .. N - 1. nullptr: the variant keeps no state (default).
  virtual std::unique_ptr<CacheState> start_session(const AttentionInputs& prefill) const;

  // The cache grew: `step` holds state.length() or more keys and the query of its newest
  // position (M = 1). Brings the state up to all of the step's keys, before decode_step.
  virtual void extend_session(CacheState& state, const AttentionInputs& step) const;

  // One decode step over the state extend_session left (null for a stateless variant): the
  // query attends exactly decode_keys(). Default: forward().
  virtual void decode_step(const AttentionInputs& step, const CacheState* state,
                           MutableTensorView out) const;
  virtual void decode_keys(const AttentionInputs& step, const CacheState* state, std::int64_t b,
                           std::int64_t h, std::vector<std::int64_t>& out) const;
  // The step's output as terms (see terms()). Default: one term over decode_keys() when the
  // variant keeps state, terms() of the step's one query otherwise.
  virtual void decode_terms(const AttentionInputs& step, const CacheState* state, std::int64_t b,
                            std::int64_t h, std::vector<AttentionTerm>& out) const;
  virtual std::int64_t decode_pairs(const AttentionInputs& step, const CacheState* state) const;

  // Bytes of the cache a server holds for this variant after `step`: K and V of every kept
  // token in the step's dtype, plus the state's own. Default: all of the step's K and V.
  virtual std::int64_t session_cache_bytes(const AttentionInputs& step,
                                           const CacheState* state) const;

 private:
  VariantConfig config_;
};

// Pairs of full attention over one [N, N] problem: N² or, causal, N(N+1)/2.
std::int64_t dense_pairs_per_problem(std::int64_t seq_len, bool causal);
// Pairs of full attention of one query head: M·N or, causal, Σ over the query positions p of
// p + 1.
std::int64_t dense_pairs_per_problem(const AttentionShape& shape, bool causal);
// Σ_{x=begin}^{end-1} min(x, cap) for 0 <= begin <= end: what a window wing of `cap` keys
// contributes over queries at distances begin..end-1 from the sequence edge.
std::int64_t sum_of_capped(std::int64_t begin, std::int64_t end, std::int64_t cap);

}  // namespace attn
