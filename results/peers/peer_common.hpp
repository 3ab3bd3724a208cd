// What the peer drivers share: the shape and run options every driver takes, the fp64 attention
// every peer is checked against, the --seq-len list, and the median of the timed repetitions.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace peer {

// The shape of one point, as every driver reads it from its options (query_len 0: M = N).
struct PointShape {
  int64_t batch = 1, heads = 8, kv_heads = 8, seq_len = 1024, query_len = 0, head_dim = 64;
  bool causal = true;
  int threads = 2;
  int64_t m() const { return query_len > 0 ? query_len : seq_len; }
};

// How a driver runs: the --seq-len list, the timed repetitions, or the check against fp64.
struct RunOptions {
  std::string seq_lens = "1024";
  int reps = 5;
  bool run_check = false;
};

// Applies `opt` if it is one of the options every driver takes; `value()` reads its argument.
// Returns false for any other option, which the driver then handles itself.
template <class Value>
bool apply_shared_option(const std::string& opt, Value value, PointShape& s, RunOptions& run) {
  if (opt == "--seq-len")
    run.seq_lens = value();
  else if (opt == "--query-len")
    s.query_len = std::stoll(value());
  else if (opt == "--heads")
    s.heads = std::stoll(value());
  else if (opt == "--kv-heads")
    s.kv_heads = std::stoll(value());
  else if (opt == "--head-dim")
    s.head_dim = std::stoll(value());
  else if (opt == "--batch")
    s.batch = std::stoll(value());
  else if (opt == "--threads")
    s.threads = std::stoi(value());
  else if (opt == "--reps")
    run.reps = std::stoi(value());
  else if (opt == "--no-causal")
    s.causal = false;
  else if (opt == "--check")
    run.run_check = true;
  else
    return false;
  return true;
}

// Q [B, H, M, D] and K, V [B, KV, N, D] row-major; the queries are the last M of the N positions.
struct AttentionDims {
  int64_t batch, heads, kv_heads, query_len, seq_len, head_dim;
  bool causal;
};

// Relative Frobenius error of a peer's output against fp64 softmax(Q·Kᵀ/sqrt(D))·V over the
// same K and V; out_row(b, h, i) gives the peer's D outputs of query i of head h (its layout).
template <class OutRow>
double rel_err_vs_fp64(const AttentionDims& s, const float* q, const float* k, const float* v,
                       OutRow out_row) {
  const int64_t N = s.seq_len, M = s.query_len, D = s.head_dim, G = s.heads / s.kv_heads;
  const double scale = 1.0 / std::sqrt(double(D));
  double err2 = 0, ref2 = 0;
  std::vector<double> p(N), o(D);
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < s.heads; ++h) {
      const float* kb = &k[(b * s.kv_heads + h / G) * N * D];
      const float* vb = &v[(b * s.kv_heads + h / G) * N * D];
      for (int64_t i = 0; i < M; ++i) {
        const float* qi = &q[((b * s.heads + h) * M + i) * D];
        const int64_t keys = s.causal ? N - M + i + 1 : N;
        double mx = -INFINITY;
        for (int64_t j = 0; j < keys; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) dot += double(qi[d]) * kb[j * D + d];
          p[j] = dot * scale;
          mx = std::max(mx, p[j]);
        }
        double sum = 0;
        std::fill(o.begin(), o.end(), 0.0);
        for (int64_t j = 0; j < keys; ++j) {
          const double w = std::exp(p[j] - mx);
          sum += w;
          for (int64_t d = 0; d < D; ++d) o[d] += w * vb[j * D + d];
        }
        const float* got = out_row(b, h, i);
        for (int64_t d = 0; d < D; ++d) {
          const double ref = o[d] / sum;
          err2 += (got[d] - ref) * (got[d] - ref);
          ref2 += ref * ref;
        }
      }
    }
  return std::sqrt(err2 / ref2);
}

// "1024,4096" -> {1024, 4096}.
inline std::vector<int64_t> parse_list(const std::string& text) {
  std::vector<int64_t> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = text.find(',', pos);
    const std::string item =
        text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (!item.empty()) out.push_back(std::stoll(item));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

// Sorts the times and returns their median.
inline double median(std::vector<double>& t) {
  std::sort(t.begin(), t.end());
  const size_t n = t.size();
  return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

}  // namespace peer
