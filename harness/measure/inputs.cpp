#include "harness/measure/inputs.hpp"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <span>
#include <stdexcept>

#include "attention/core/random.hpp"
#include "harness/measure/captured_inputs.hpp"

// The generative models. Every generator draws V iid N(0, 1); they differ in Q and K. The
// constants are tuned so that each promised property holds with a margin at the default scale
// 1/sqrt(D), for N from 256 to 65536 and D from 16 to 128 (tests/harness/inputs_test.cpp measures
// them; the README's "Inputs" section quotes the values).
//
// gaussian   Q, K iid N(0, 1). Scores q·k/sqrt(D) are ~N(0, 1), so attention is nearly
//            uniform: the perplexity of a row's weights is about N·e^(-1/2) ≈ 0.61·N.
//
// local      Rotary-style positional features plus a little noise. With P = floor(D/2)
//            frequency pairs, wavelengths λ_c log-spaced from kLocalMinWavelength to
//            kLocalMaxWavelength, ω_c = 2π/λ_c and a random phase φ_c per (batch, head, c):
//              q_i[2c], q_i[2c+1] = a·cos(ω_c·i + φ_c), a·sin(ω_c·i + φ_c)
//              k_j[2c], k_j[2c+1] = a·cos(ω_c·j + φ_c), a·sin(ω_c·j + φ_c)
//            plus iid N(0, σ²) on every coordinate (an odd last coordinate is noise only), with
//            a² = kLocalAlpha·sqrt(D)/P and σ = kLocalNoise/a. Then
//              q_i·k_j/sqrt(D) = kLocalAlpha · mean_c cos(ω_c·(i-j)) + noise of std ≈ kLocalNoise,
//            a score that depends only on i-j, peaks at i = j and falls smoothly with |i-j|
//            (quadratically within the shortest wavelength, then roughly like -log|i-j|, since
//            the terms whose wavelength |i-j| exceeds average out). Nearly all the mass lies
//            within |i-j| <= 64 and a row's weights spread over about 60 keys (D = 64).
//
// clustered  kClusters centroids μ_c per (batch, head), orthonormal when D >= kClusters
//            (otherwise the first D are, the rest are random unit vectors). Token t belongs to
//            cluster z_t, uniform and independent; q_t = r·μ_{z_t} + σ·ε, k_t = r·μ_{z_t} + σ·ε'
//            with ε, ε' iid N(0, I), r² = kClusterScore·sqrt(D) and σ = kClusterNoise. A query's
//            score for a key of its own cluster is ≈ kClusterScore, for another cluster ≈ 0:
//            same-cluster keys draw about e^5/(e^5 + 15) ≈ 0.9 of the mass. This is the structure
//            LSH attention assumes.
//
// sinks      Gaussian tokens plus attention sinks, the first kSinks keys, which real models'
//            queries attend heavily. A random unit direction u per (batch, head) and, with
//            ε_t iid N(0, I) projected orthogonal to u (so only the sinks lie along u):
//              q_i = a·u + ε_i               for every query,
//              k_j = a·u + ε'_j              for j < kSinks,
//              k_j = ε'_j                    for the other keys,
//            a² = (ln((N - S)/S) + kSinkMargin)·sqrt(D), S = kSinks. A sink's score is then
//            ln((N - S)/S) + kSinkMargin plus noise of std ≈ 1, like every other score: the sink
//            logit grows with N just enough that the sinks keep the same share of every row,
//            ≈ 1/(1 + e^-1.5) ≈ 0.8, at any sequence length.
//
// lm         A model of the four structures MInference observed in real LLM attention, meant for
//            causal use: attention sinks, a local band, a few heavy key columns ("vertical"
//            lines) and periodic diagonals ("slash" lines). Each lives on its own coordinates, so
//            the score of query position p for key j, Δ = p - j, is a sum of four parts:
//              s(p, j) = L_band·B(Δ) + L_slash·F(Δ) + L_sink·[j < S] + L_heavy·[j ∈ H] + noise
//            * coordinate 0 (sinks): k_0 = D^1/4 for the S = kLmSinks first keys, 0 for the
//              others, and q_0 = L_sink·D^1/4;
//            * coordinate 1 (heavy columns): the same with L_heavy, for the kLmHeavyColumns key
//              positions H drawn uniformly from [S, N) per (batch, kv head);
//            * the band: the first half of the remaining coordinate pairs are rotary pairs,
//              k = D^1/4·sqrt(w_c)·(cos(ω_c·j + φ_c), sin(ω_c·j + φ_c)) and q the same at p
//              times L_band, with wavelengths log-spaced from kLmBandMinWavelength to
//              kLmBandMaxWavelength and w_c = 1/pairs, so B(Δ) = mean_c cos(ω_c·Δ): 1 at Δ = 0,
//              decaying with |Δ|;
//            * the slash lines: the other pairs are rotary at the harmonics ω_h = 2π·h/kLmPeriod,
//              h = 1..pairs, with Fejér weights w_h ∝ 1 - h/(pairs + 1), so F(Δ) = Σ_h w_h
//              cos(ω_h·Δ) is a non-negative comb: 1 at every multiple of kLmPeriod, near 0
//              between them (lines a few tokens wide);
//            * iid N(0, kLmNoise²) on every coordinate of Q and K (score noise of std ≈ 0.5).
//            Keys carry the structure and queries the logits, which follow the keys a causal
//            row at position p sees, so each part keeps its share of a row at every p and N:
//            L_sink = ln(max(p + 1, 2S)/S) - 0.5, L_heavy = ln(N/|H|) - 0.5,
//            L_band = ln(max(p + 1, 64)/32) - 0.5, L_slash = 4.5. The period is 96, not a power
//            of two, so that decode rows at N = 2^k do not sit on a line through the sinks.
//            Measured under causal attention (D = 64, N = 4K and 16K, mean over 32 spread
//            rows; tests/harness/inputs_test.cpp): sinks 0.26-0.28, heavy columns 0.09-0.16, band
//            (Δ < 64) 0.13-0.15, slash lines (|Δ mod 96| <= 2, Δ >= 64: 5% of the keys)
//            0.34-0.40, the rest about 0.1; so every structure matters and none alone suffices.
//            The last 256 queries of a 4K sequence: sinks 0.08, heavy 0.21, slash 0.46.
//
// Determinism: every (tensor, batch, head) has its own xoshiro256** stream keyed by
// (seed, stream id, batch, head), and the (batch, head) problems are generated independently,
// so the bits do not depend on the thread count or the scheduling. Each stream is read row after
// row, D normals per row, so row r of a head is a function of (seed, tensor, batch, head, r).
//
// Serving shapes (inputs.hpp states the rule): K and V head j are generated exactly as the
// square case generates head j, from the streams and the structure of (batch, j), for all N
// positions. Query head h draws its own Q stream (batch, h) and shares the structure (phases,
// centroids and cluster labels, sink direction) of the kv head it reads, j = h / (H / kv_heads);
// its M queries are the positions N - M .. N - 1: the stream skips the first N - M rows' draws
// and every positional term uses the absolute position. At kv_heads = H and M = N this is the
// square generation, bit for bit.

namespace attn::harness {
namespace {

constexpr double kLocalAlpha = 24.0;              // peak score at i = j
constexpr double kLocalMinWavelength = 128.0;     // tokens; shortest rotary wavelength
constexpr double kLocalMaxWavelength = 131072.0;  // tokens; twice the longest benchmarked N
constexpr double kLocalNoise = 0.5;               // std of the noise part of a score

constexpr int kClusters = 16;
constexpr double kClusterScore = 5.0;  // score of a same-cluster pair
constexpr double kClusterNoise = 0.5;  // per-coordinate noise std

constexpr std::int64_t kSinks = 4;
constexpr double kSinkMargin = 1.5;  // sink logit above ln((N - S)/S)

constexpr std::int64_t kLmSinks = 4;
constexpr std::int64_t kLmHeavyColumns = 16;
constexpr double kLmBandMinWavelength = 16.0;      // tokens
constexpr double kLmBandMaxWavelength = 131072.0;  // tokens
constexpr double kLmPeriod = 96.0;                 // tokens between slash lines
constexpr double kLmSlashLogit = 4.5;
constexpr double kLmNoise = 0.1;  // per-coordinate std of Q and K

// Stream ids: one random stream per tensor and one for the shared structure of a problem.
enum class Stream : std::uint64_t { kQ = 1, kK = 2, kV = 3, kStructure = 4 };

// xoshiro256** (Blackman and Vigna) with N(0, 1) draws by the Box–Muller transform: both fully
// specified here, unlike std::normal_distribution, so a seed gives the same bits everywhere.
class Rng {
 public:
  Rng(std::uint64_t seed, Stream stream, std::int64_t b, std::int64_t h) {
    std::uint64_t key = seed;
    // Chaining the identifiers through splitmix64 keeps nearby (seed, b, h) keys unrelated.
    for (std::uint64_t id : {static_cast<std::uint64_t>(stream), static_cast<std::uint64_t>(b),
                             static_cast<std::uint64_t>(h)}) {
      key = splitmix64(key) ^ id;
    }
    for (auto& s : state_) s = splitmix64(key);
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform in (0, 1], never 0, so that log() below is finite.
  double uniform() { return static_cast<double>((next() >> 11) + 1) * 0x1.0p-53; }

  std::uint64_t below(std::uint64_t n) {
    __extension__ using Wide = unsigned __int128;
    return static_cast<std::uint64_t>((static_cast<Wide>(next()) * n) >> 64);
  }

  // Advances the stream past `count` normal() draws without computing them: each pair of
  // draws takes two next() calls, the second of a pair is the spare.
  void skip_normals(std::int64_t count) {
    if (count > 0 && has_spare_) {
      has_spare_ = false;
      --count;
    }
    for (std::int64_t i = 0; i < count / 2 * 2; ++i) next();
    if (count % 2 != 0) normal();
  }

  // Advances the stream past `count` below() or next() draws.
  void skip(std::int64_t count) {
    for (std::int64_t i = 0; i < count; ++i) next();
  }

  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double radius = std::sqrt(-2.0 * std::log(uniform()));
    const double angle = 2.0 * std::numbers::pi * uniform();
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  std::array<std::uint64_t, 4> state_{};
  double spare_ = 0;
  bool has_spare_ = false;
};

double dot(std::span<const double> a, std::span<const double> b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// A random unit vector of `dim` components (uniform on the sphere).
std::vector<double> random_unit(Rng& rng, std::int64_t dim) {
  std::vector<double> v(static_cast<std::size_t>(dim));
  double norm = 0;
  while (norm == 0) {
    for (double& x : v) x = rng.normal();
    norm = std::sqrt(dot(v, v));
  }
  for (double& x : v) x /= norm;
  return v;
}

// Removes from `v` its component along the unit vector `u`.
void remove_component(std::span<double> v, std::span<const double> u) {
  const double along = dot(v, u);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] -= along * u[i];
}

void fill_normal(Rng& rng, std::span<float> out) {
  for (float& x : out) x = static_cast<float>(rng.normal());
}

// What one generator call fills: `rows` consecutive rows, at absolute positions first ..
// first + rows - 1, of Q for query head `head` (sharing the structure of kv head
// `structure_head`) or of K for kv head `head` (its own structure).
struct Problem {
  const AttentionShape& shape;
  std::uint64_t seed;
  Stream tensor;  // kQ or kK
  std::int64_t b, head, structure_head;
  std::int64_t first, rows;
  float* out;  // [rows, D]

  std::size_t dim() const { return static_cast<std::size_t>(shape.head_dim); }
  std::span<float> row(std::int64_t i) const { return {out + i * shape.head_dim, dim()}; }
  std::int64_t position(std::int64_t i) const { return first + i; }
  Rng structure() const { return Rng(seed, Stream::kStructure, b, structure_head); }
  // The tensor's stream, advanced to row `first` (every generator draws D normals per row).
  Rng stream() const {
    Rng rng(seed, tensor, b, head);
    rng.skip_normals(first * shape.head_dim);
    return rng;
  }
};

void generate_gaussian(const Problem& p) {
  Rng rng = p.stream();
  fill_normal(rng, {p.out, static_cast<std::size_t>(p.rows) * p.dim()});
}

void generate_local(const Problem& p) {
  const std::int64_t d = p.shape.head_dim;
  const std::int64_t pairs = d / 2;
  Rng structure = p.structure();
  std::vector<double> omega(static_cast<std::size_t>(pairs));
  std::vector<double> phase(static_cast<std::size_t>(pairs));
  for (std::int64_t c = 0; c < pairs; ++c) {
    const double t = pairs == 1 ? 0.0 : static_cast<double>(c) / static_cast<double>(pairs - 1);
    const double wavelength =
        kLocalMinWavelength * std::pow(kLocalMaxWavelength / kLocalMinWavelength, t);
    omega[c] = 2.0 * std::numbers::pi / wavelength;
    phase[c] = 2.0 * std::numbers::pi * structure.uniform();
  }
  // With no frequency pair (D = 1) the tensors are pure noise of unit variance.
  const double amplitude =
      pairs == 0
          ? 0.0
          : std::sqrt(kLocalAlpha * std::sqrt(static_cast<double>(d)) / static_cast<double>(pairs));
  const double noise = pairs == 0 ? 1.0 : kLocalNoise / amplitude;
  Rng rng = p.stream();
  for (std::int64_t i = 0; i < p.rows; ++i) {
    std::span<float> x = p.row(i);
    for (std::int64_t c = 0; c < pairs; ++c) {
      const double angle = omega[c] * static_cast<double>(p.position(i)) + phase[c];
      const double re = amplitude * std::cos(angle);
      const double im = amplitude * std::sin(angle);
      x[2 * c] = static_cast<float>(re + noise * rng.normal());
      x[2 * c + 1] = static_cast<float>(im + noise * rng.normal());
    }
    for (std::int64_t c = 2 * pairs; c < d; ++c) x[c] = static_cast<float>(noise * rng.normal());
  }
}

void generate_clustered(const Problem& p) {
  const std::int64_t d = p.shape.head_dim;
  Rng structure = p.structure();
  std::vector<std::vector<double>> centroids;
  for (int c = 0; c < kClusters; ++c) {
    std::vector<double> v = random_unit(structure, d);
    // Gram–Schmidt against the earlier centroids while there are dimensions left, so that
    // clusters do not overlap by chance (at D = 16 random directions would, noticeably).
    if (c < d) {
      double norm = 0;
      while (norm < 1e-6) {
        for (const auto& prev : centroids) remove_component(v, prev);
        norm = std::sqrt(dot(v, v));
        if (norm < 1e-6) v = random_unit(structure, d);
      }
      for (double& x : v) x /= norm;
    }
    centroids.push_back(std::move(v));
  }
  const double radius = std::sqrt(kClusterScore * std::sqrt(static_cast<double>(d)));
  // Token t's cluster is the structure stream's t-th label after the centroids, shared by the
  // query and the key at position t.
  structure.skip(p.first);
  Rng rng = p.stream();
  for (std::int64_t i = 0; i < p.rows; ++i) {
    const auto& mu = centroids[structure.below(kClusters)];
    std::span<float> x = p.row(i);
    for (std::int64_t c = 0; c < d; ++c)
      x[c] = static_cast<float>(radius * mu[c] + kClusterNoise * rng.normal());
  }
}

void generate_sinks(const Problem& p) {
  const std::int64_t n = p.shape.seq_len;  // keys: the logit keeps the sinks' share at every N
  const std::int64_t d = p.shape.head_dim;
  const std::int64_t sinks = std::min(kSinks, n);
  Rng structure = p.structure();
  const std::vector<double> u = random_unit(structure, d);
  // With N <= 2·kSinks the sinks are most of the sequence; the logit formula needs N > S.
  const double others = static_cast<double>(std::max<std::int64_t>(n - sinks, sinks));
  const double logit = std::log(others / static_cast<double>(sinks)) + kSinkMargin;
  const double amplitude = std::sqrt(logit * std::sqrt(static_cast<double>(d)));
  Rng rng = p.stream();
  std::vector<double> row(static_cast<std::size_t>(d));
  for (std::int64_t i = 0; i < p.rows; ++i) {
    // Every query, and the sink keys, lie along u; the other keys only have noise orthogonal to u.
    const double along = p.tensor == Stream::kQ || p.position(i) < sinks ? amplitude : 0.0;
    for (double& x : row) x = rng.normal();
    remove_component(row, u);
    std::span<float> out = p.row(i);
    for (std::int64_t c = 0; c < d; ++c) out[c] = static_cast<float>(along * u[c] + row[c]);
  }
}

// The lm model's four logits for a query at absolute position `position` over N keys
// (inputs.cpp's model comment): the sink and band logits follow the keys a causal row sees.
struct LmLogits {
  double sink, heavy, band, slash;
};

LmLogits lm_logits(std::int64_t position, std::int64_t n) {
  const auto seen = static_cast<double>(position + 1);
  return {std::log(std::max(seen, 2.0 * kLmSinks) / kLmSinks) - 0.5,
          std::max(0.0, std::log(static_cast<double>(n) / kLmHeavyColumns) - 0.5),
          std::log(std::max(seen, 64.0) / 32.0) - 0.5, kLmSlashLogit};
}

void generate_lm(const Problem& p) {
  const std::int64_t n = p.shape.seq_len;
  const std::int64_t d = p.shape.head_dim;
  // Keys carry unit structure (times D^1/4); a query carries the logits, so q·k/sqrt(D) is the
  // logit itself.
  const double root4_d = std::sqrt(std::sqrt(static_cast<double>(d)));
  const std::int64_t pairs = d >= 2 ? (d - 2) / 2 : 0;
  const std::int64_t band_pairs = pairs / 2, slash_pairs = pairs - band_pairs;

  // Rotary pairs: band first, then slash harmonics; each has a frequency, a weight and a random
  // phase from the structure stream, shared by a kv head and its query heads.
  Rng structure = p.structure();
  std::vector<double> omega, weight, phase;
  double fejer_total = 0;
  for (std::int64_t h = 1; h <= slash_pairs; ++h)
    fejer_total += 1.0 - static_cast<double>(h) / static_cast<double>(slash_pairs + 1);
  for (std::int64_t c = 0; c < pairs; ++c) {
    if (c < band_pairs) {
      const double t =
          band_pairs == 1 ? 0.0 : static_cast<double>(c) / static_cast<double>(band_pairs - 1);
      omega.push_back(
          2.0 * std::numbers::pi /
          (kLmBandMinWavelength * std::pow(kLmBandMaxWavelength / kLmBandMinWavelength, t)));
      weight.push_back(1.0 / static_cast<double>(band_pairs));
    } else {
      const auto h = static_cast<double>(c - band_pairs + 1);
      omega.push_back(2.0 * std::numbers::pi * h / kLmPeriod);
      weight.push_back((1.0 - h / static_cast<double>(slash_pairs + 1)) / fejer_total);
    }
    phase.push_back(2.0 * std::numbers::pi * structure.uniform());
  }
  const std::int64_t sinks = std::min(kLmSinks, n);
  std::vector<std::int64_t> heavy;
  for (std::int64_t c = 0; c < kLmHeavyColumns && n > sinks; ++c)
    heavy.push_back(
        sinks + static_cast<std::int64_t>(structure.below(static_cast<std::uint64_t>(n - sinks))));
  std::sort(heavy.begin(), heavy.end());

  Rng rng = p.stream();
  const bool query = p.tensor == Stream::kQ;
  for (std::int64_t i = 0; i < p.rows; ++i) {
    const std::int64_t position = p.position(i);
    const LmLogits logits = lm_logits(position, n);
    std::span<float> x = p.row(i);
    const auto put = [&](std::int64_t c, double signal) {
      x[c] = static_cast<float>(signal * root4_d + kLmNoise * rng.normal());
    };
    if (d >= 1) put(0, query ? logits.sink : position < sinks ? 1.0 : 0.0);
    if (d >= 2) {
      const bool column = std::binary_search(heavy.begin(), heavy.end(), position);
      put(1, query ? logits.heavy : column ? 1.0 : 0.0);
    }
    for (std::int64_t c = 0; c < pairs; ++c) {
      const double scale =
          std::sqrt(weight[c]) * (query ? (c < band_pairs ? logits.band : logits.slash) : 1.0);
      const double angle = omega[c] * static_cast<double>(position) + phase[c];
      put(2 + 2 * c, scale * std::cos(angle));
      put(3 + 2 * c, scale * std::sin(angle));
    }
    for (std::int64_t c = 2 + 2 * pairs; c < d; ++c) put(c, 0.0);
  }
}

using Generator = void (*)(const Problem&);

Generator find_generator(const std::string& name) {
  if (name == "gaussian") return generate_gaussian;
  if (name == "local") return generate_local;
  if (name == "clustered") return generate_clustered;
  if (name == "sinks") return generate_sinks;
  if (name == "lm") return generate_lm;
  return nullptr;
}

std::string allowed_inputs() {
  return "gaussian, local, clustered, sinks, lm, npy:DIR, safetensors:DIR[,layer=L][,heads=A-B]";
}

// Replaces every row of K by the matching row of Q scaled to unit length (a zero row stays zero).
void share_qk(InputTensors& t) {
  const Shape& s = t.q.shape();
  const std::int64_t d = s.head_dim;
  const std::int64_t rows = s.problems() * s.seq_len;
  const float* q = t.q.data().data();
  float* k = t.k.data().data();
  tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, rows, 1024), [&](const auto& range) {
    for (std::int64_t r = range.begin(); r != range.end(); ++r) {
      double norm = 0;
      for (std::int64_t c = 0; c < d; ++c) norm += static_cast<double>(q[r * d + c]) * q[r * d + c];
      norm = std::sqrt(norm);
      const double inv = norm > 0 ? 1.0 / norm : 0.0;
      for (std::int64_t c = 0; c < d; ++c) k[r * d + c] = static_cast<float>(q[r * d + c] * inv);
    }
  });
}

}  // namespace

const std::vector<std::string>& generator_names() {
  static const std::vector<std::string> names = {"gaussian", "local", "clustered", "sinks", "lm"};
  return names;
}

void check_input_name(const std::string& input) {
  if (find_generator(input) != nullptr) return;
  if (is_captured_input(input)) {
    try {
      check_captured_input_name(input);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string(e.what()) + "; allowed: " + allowed_inputs());
    }
    return;
  }
  throw std::invalid_argument("unknown input '" + input + "'; allowed: " + allowed_inputs());
}

void check_shared_qk(const AttentionShape& shape) {
  if (shape.square()) return;
  throw std::invalid_argument(
      "shared_qk makes K the row-normalised Q, which needs as many queries as keys and one kv "
      "head per query head; got " +
      shape.to_string());
}

InputTensors make_inputs(const std::string& input, const AttentionShape& shape, std::uint64_t seed,
                         bool shared_qk) {
  check_input_name(input);
  InputTensors t;
  if (is_captured_input(input)) {
    CapturedInputs in = read_captured_inputs(input);
    if (shared_qk) check_shared_qk(in.shape);
    Tensor* tensors[] = {&t.q, &t.k, &t.v};
    const Shape shapes[] = {in.shape.query_shape(), in.shape.kv_shape(), in.shape.kv_shape()};
    for (std::size_t i = 0; i < 3; ++i) {
      *tensors[i] = Tensor(shapes[i]);
      std::copy_n(in.data[i].data(), in.data[i].size(), tensors[i]->data().data());
    }
  } else {
    try {
      shape.check();
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("input shape " + shape.to_string() + ": " + e.what());
    }
    if (shared_qk) check_shared_qk(shape);
    const Generator generate = find_generator(input);
    t.q = Tensor(shape.query_shape());
    t.k = Tensor(shape.kv_shape());
    t.v = Tensor(shape.kv_shape());
    // Tasks 0 .. B·H-1 fill a query head's Q; the next B·kv_heads fill a kv head's K and V.
    const std::int64_t query_tasks = shape.batch * shape.heads;
    const std::int64_t tasks = query_tasks + shape.batch * shape.kv_heads;
    const std::size_t kv_head_size = static_cast<std::size_t>(shape.seq_len * shape.head_dim);
    tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, tasks, 1), [&](const auto& range) {
      for (std::int64_t task = range.begin(); task != range.end(); ++task) {
        if (task < query_tasks) {
          const std::int64_t b = task / shape.heads, h = task % shape.heads;
          generate({shape, seed, Stream::kQ, b, h, shape.kv_head(h), shape.first_position(),
                    shape.query_len, t.q.mutable_view().head(b, h)});
        } else {
          const std::int64_t b = (task - query_tasks) / shape.kv_heads;
          const std::int64_t j = (task - query_tasks) % shape.kv_heads;
          generate(
              {shape, seed, Stream::kK, b, j, j, 0, shape.seq_len, t.k.mutable_view().head(b, j)});
          Rng v_rng(seed, Stream::kV, b, j);
          fill_normal(v_rng, {t.v.mutable_view().head(b, j), kv_head_size});
        }
      }
    });
  }
  if (shared_qk) share_qk(t);
  return t;
}

}  // namespace attn::harness
