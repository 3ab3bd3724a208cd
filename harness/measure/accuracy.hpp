#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "attention/core/variant.hpp"

namespace attn::harness {

// Full attention in fp64 on a fixed random sample of query rows per (batch, head): the ground
// truth every variant at a point is compared with. It costs O(rows · N · D) rather than
// O(N² · D), and is computed once per point and shared by all its variants.
struct ReferenceSample {
  std::int64_t rows_per_problem = 0;  // min(M, requested rows)
  std::vector<std::int64_t> rows;     // sampled query indices (0..M-1), problem-major, sorted
  std::vector<double> outputs;        // full attention's output, head_dim values per sampled row
  std::vector<double> score_max;      // per sampled row: max of the scaled scores
  std::vector<double> score_sum;      // per sampled row: sum of exp(score - max)
};

// Samples `rows_per_problem` query rows per (batch, head) without replacement (all rows when M
// is not larger), reproducibly from `seed`, and computes full attention for them.
ReferenceSample sample_full_attention(const AttentionInputs& inputs, std::int64_t rows_per_problem,
                                      std::uint64_t seed);

// How far a variant's output is from full attention, on the sampled rows. `reference` holds full
// attention's outputs over the original fp32 inputs; its score_max and score_sum must be those
// of the inputs the forward read (for bf16, of the rounded inputs), for the mass recall.
struct Accuracy {
  double rel_err = 0;  // ||O - O_full||_F / ||O_full||_F
  // ||O - O_keys||_F / ||O_keys||_F, O_keys exact fp64 attention over the inputs the forward
  // read (bf16: the rounded ones) restricted to the variant's own keys (its terms): the
  // kernel's rounding.
  double rel_err_kernel = 0;
  double max_abs_err = 0;  // max |O - O_full|
  double cos_sim_min = 1;  // min over rows of cos(O_row, O_full_row)
  double mass_recall = 1;  // mean over rows of full attention's softmax mass on the kept keys
};

Accuracy measure_accuracy(const Variant& variant, const AttentionInputs& inputs,
                          const TensorView& output, const ReferenceSample& reference);

// The same for terms given row by row: terms_of(b, h, query, terms) sets the terms (Variant::
// terms) of query `query` of problem (b, h) (a decode step's, which depend on the session's
// state). The mass recall counts full attention's mass on the rows of K the terms read.
using TermsOf = std::function<void(std::int64_t b, std::int64_t h, std::int64_t query,
                                   std::vector<AttentionTerm>& terms)>;
Accuracy measure_accuracy(const TermsOf& terms_of, const AttentionInputs& inputs,
                          const TensorView& output, const ReferenceSample& reference);

}  // namespace attn::harness
