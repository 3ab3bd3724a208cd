#include "harness/measure/inputs.hpp"

#include <gtest/gtest.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include "attention/core/variant.hpp"
#include "attention/reference/reference.hpp"
#include "harness/io/npy.hpp"

namespace attn::harness {
namespace {

namespace fs = std::filesystem;

AttentionInputs attention_inputs(const InputTensors& t, bool causal = false) {
  return {t.q.view(), t.k.view(), t.v.view(), causal, default_scale(t.q.shape().head_dim)};
}

// Evenly spread query rows, so that rows near both ends and the middle are measured.
std::vector<std::int64_t> sample_rows(std::int64_t n, std::int64_t count) {
  std::vector<std::int64_t> rows;
  for (std::int64_t r = 0; r < std::min(n, count); ++r)
    rows.push_back((2 * r + 1) * n / (2 * count));
  return rows;
}

// The mean over query heads and sampled queries of `statistic(b, h, query, position, weights)`,
// where `weights` are full attention's fp64 softmax weights at the default scale over the N keys
// and `position` is the query's absolute position N - M + query.
template <class Statistic>
double mean_over_rows(const InputTensors& t, std::int64_t rows_per_head, Statistic statistic,
                      bool causal = false) {
  const AttentionInputs in = attention_inputs(t, causal);
  const AttentionShape s = in.shape();
  std::vector<double> weights;
  double sum = 0;
  std::int64_t count = 0;
  for (std::int64_t b = 0; b < s.batch; ++b) {
    for (std::int64_t h = 0; h < s.heads; ++h) {
      for (std::int64_t i : sample_rows(s.query_len, rows_per_head)) {
        full_attention_weights(in, b, h, i, weights);
        sum += statistic(b, h, i, s.position(i), weights);
        ++count;
      }
    }
  }
  return sum / static_cast<double>(count);
}

// exp(entropy) of a row's weights: the number of keys it effectively spreads over.
double perplexity(const std::vector<double>& w) {
  double entropy = 0;
  for (double p : w) {
    if (p > 0) entropy -= p * std::log(p);
  }
  return std::exp(entropy);
}

double mass_within(const std::vector<double>& w, std::int64_t query, std::int64_t radius) {
  double mass = 0;
  const auto n = static_cast<std::int64_t>(w.size());
  for (std::int64_t j = std::max<std::int64_t>(0, query - radius);
       j <= std::min(n - 1, query + radius); ++j) {
    mass += w[j];
  }
  return mass;
}

struct Moments {
  double mean = 0, variance = 0;
};

Moments moments(const Tensor& t) {
  double sum = 0, sum_sq = 0;
  for (float x : t.data()) {
    sum += x;
    sum_sq += static_cast<double>(x) * x;
  }
  const double n = static_cast<double>(t.data().size());
  return {sum / n, sum_sq / n - (sum / n) * (sum / n)};
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.data().size() == b.data().size() &&
         std::memcmp(a.data().data(), b.data().data(), a.data().size_bytes()) == 0;
}

bool same_bits(const InputTensors& a, const InputTensors& b) {
  return same_bits(a.q, b.q) && same_bits(a.k, b.k) && same_bits(a.v, b.v);
}

TEST(InputsTest, GeneratorNamesInHelpOrder) {
  EXPECT_EQ(generator_names(),
            (std::vector<std::string>{"gaussian", "local", "clustered", "sinks", "lm"}));
}

TEST(InputsTest, CheckInputNameAcceptsGeneratorsAndNpy) {
  for (const auto& name : generator_names()) EXPECT_NO_THROW(check_input_name(name));
  EXPECT_NO_THROW(check_input_name("npy:captures/layer3"));
  for (const std::string bad : {"foo", "", "Gaussian", "npy", "npy:", "local:x"}) {
    try {
      check_input_name(bad);
      ADD_FAILURE() << "'" << bad << "' was accepted";
    } catch (const std::invalid_argument& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("'" + bad + "'"), std::string::npos) << message;
      EXPECT_NE(message.find("allowed: gaussian, local, clustered, sinks, lm, npy:DIR"),
                std::string::npos)
          << message;
    }
  }
  EXPECT_THROW(make_inputs("foo", {1, 1, 8, 8}, 0), std::invalid_argument);
}

TEST(InputsTest, RejectsEmptyShapes) {
  EXPECT_THROW(make_inputs("gaussian", {1, 1, 0, 8}, 0), std::invalid_argument);
  EXPECT_THROW(make_inputs("local", {1, 0, 8, 8}, 0), std::invalid_argument);
  EXPECT_THROW(make_inputs("sinks", {1, 1, 8, -1}, 0), std::invalid_argument);
}

TEST(InputsTest, ValuesAreStandardNormalForEveryGenerator) {
  for (const auto& name : generator_names()) {
    SCOPED_TRACE(name);
    const InputTensors t = make_inputs(name, {1, 2, 1024, 64}, 3);
    const Moments v = moments(t.v);
    EXPECT_NEAR(v.mean, 0.0, 0.01);
    EXPECT_NEAR(v.variance, 1.0, 0.02);
  }
}

TEST(InputsTest, GaussianIsStandardNormalAndNearlyUniform) {
  const InputTensors t = make_inputs("gaussian", {1, 2, 4096, 64}, 1);
  for (const Tensor* x : {&t.q, &t.k, &t.v}) {
    const Moments m = moments(*x);
    EXPECT_NEAR(m.mean, 0.0, 0.005);
    EXPECT_NEAR(m.variance, 1.0, 0.01);
  }
  const double ppl = mean_over_rows(t, 16, [](auto, auto, auto, auto, const auto& w) {
    return perplexity(w) / static_cast<double>(w.size());
  });
  const double max_weight = mean_over_rows(t, 16, [](auto, auto, auto, auto, const auto& w) {
    return *std::max_element(w.begin(), w.end());
  });
  EXPECT_GE(ppl, 0.5);  // model: e^-1/2 ≈ 0.61
  EXPECT_LE(max_weight, 0.02);
}

TEST(InputsTest, LocalMassSitsNearTheDiagonal) {
  struct Case {
    Shape shape;
    std::int64_t rows;
  };
  for (const Case& c :
       {Case{{1, 2, 4096, 64}, 32}, Case{{1, 1, 16384, 64}, 12}, Case{{1, 2, 4096, 16}, 32},
        Case{{1, 1, 4096, 128}, 16}, Case{{1, 1, 256, 64}, 32}}) {
    SCOPED_TRACE(c.shape.to_string());
    const InputTensors t = make_inputs("local", c.shape, 5);
    const double share =
        mean_over_rows(t, c.rows, [](auto, auto, auto, auto position, const auto& w) {
          return mass_within(w, position, 256);
        });
    EXPECT_GE(share, 0.9);
    // Local, but not a single key: the weights spread over tens of keys.
    const double ppl = mean_over_rows(
        t, c.rows, [](auto, auto, auto, auto, const auto& w) { return perplexity(w); });
    EXPECT_GE(ppl, 8.0);
  }
}

// A key is in the query's cluster when their directions agree: same-cluster pairs have a cosine
// of about 0.7 (D = 64), other pairs about 0 ± 0.1. `i` is the query's index (0..M-1); the keys
// are those of the kv head query head h reads.
double same_cluster_mass(const InputTensors& t, std::int64_t b, std::int64_t h, std::int64_t i,
                         const std::vector<double>& w) {
  const std::int64_t d = t.q.shape().head_dim;
  const float* q = t.q.view().row(b, h, i);
  auto norm = [d](const float* x) {
    double s = 0;
    for (std::int64_t c = 0; c < d; ++c) s += static_cast<double>(x[c]) * x[c];
    return std::sqrt(s);
  };
  double mass = 0;
  const std::int64_t kv_head = h / (t.q.shape().heads / t.k.shape().heads);
  for (std::size_t j = 0; j < w.size(); ++j) {
    const float* k = t.k.view().row(b, kv_head, static_cast<std::int64_t>(j));
    double dot = 0;
    for (std::int64_t c = 0; c < d; ++c) dot += static_cast<double>(q[c]) * k[c];
    if (dot > 0.35 * norm(q) * norm(k)) mass += w[j];
  }
  return mass;
}

TEST(InputsTest, ClusteredMassStaysInTheQuerysCluster) {
  for (const Shape& shape :
       {Shape{1, 2, 4096, 64}, Shape{1, 1, 16384, 64}, Shape{1, 2, 4096, 16}}) {
    SCOPED_TRACE(shape.to_string());
    const InputTensors t = make_inputs("clustered", shape, 9);
    const double share = mean_over_rows(t, 16, [&](auto b, auto h, auto i, auto, const auto& w) {
      return same_cluster_mass(t, b, h, i, w);
    });
    EXPECT_GE(share, 0.8);
  }
}

TEST(InputsTest, SinksDrawMostOfEveryRow) {
  for (const Shape& shape : {Shape{1, 2, 4096, 64}, Shape{1, 1, 16384, 64}, Shape{1, 2, 4096, 16},
                             Shape{1, 2, 256, 128}}) {
    SCOPED_TRACE(shape.to_string());
    const InputTensors t = make_inputs("sinks", shape, 11);
    const double share = mean_over_rows(
        t, 32, [](auto, auto, auto, auto, const auto& w) { return w[0] + w[1] + w[2] + w[3]; });
    EXPECT_GE(share, 0.7);  // model: about 0.8 at every N
  }
}

// The lm model's four structures (inputs.cpp), told apart by position alone: the first 4 keys
// are the sinks, the heavy columns are the keys whose coordinate 1 carries the heavy amplitude,
// the band is Δ = p - j < 64 and the slash lines are Δ >= 64 within 2 of a multiple of 96.
struct LmShares {
  double sinks = 0, heavy = 0, band = 0, slash = 0, slash_keys = 0;
};

LmShares lm_shares(const InputTensors& t, std::int64_t rows_per_head) {
  const Shape& ks = t.k.shape();
  // A heavy column's key carries D^1/4 on coordinate 1, every other key only noise of std 0.1.
  const auto heavy_threshold = static_cast<float>(0.5 * std::pow(ks.head_dim, 0.25));
  LmShares total;
  const auto add = [&](LmShares& acc, auto b, auto h, auto position, const auto& w) {
    const std::int64_t kv = h / (t.q.shape().heads / ks.heads);
    LmShares row;
    for (std::int64_t j = 0; j <= position; ++j) {
      const std::int64_t delta = position - j;
      const bool heavy = j >= 4 && t.k.view().row(b, kv, j)[1] > heavy_threshold;
      const std::int64_t off_line = std::min(delta % 96, 96 - delta % 96);
      if (j < 4) {
        row.sinks += w[j];
      } else if (heavy) {
        row.heavy += w[j];
      } else if (delta < 64) {
        row.band += w[j];
      } else if (off_line <= 2) {
        row.slash += w[j];
        row.slash_keys += 1.0 / static_cast<double>(position + 1);
      }
    }
    acc.sinks += row.sinks;
    acc.heavy += row.heavy;
    acc.band += row.band;
    acc.slash += row.slash;
    acc.slash_keys += row.slash_keys;
    return 0.0;
  };
  std::int64_t rows = 0;
  mean_over_rows(
      t, rows_per_head,
      [&](auto b, auto h, auto, auto position, const auto& w) {
        ++rows;
        return add(total, b, h, position, w);
      },
      /*causal=*/true);
  const auto n = static_cast<double>(rows);
  return {total.sinks / n, total.heavy / n, total.band / n, total.slash / n, total.slash_keys / n};
}

TEST(InputsTest, LmHasSinksBandHeavyColumnsAndSlashLines) {
  for (const AttentionShape& shape :
       {AttentionShape{1, 2, 4096, 64}, AttentionShape{1, 1, 16384, 64},
        AttentionShape{1, 2, 4096, 128}, AttentionShape{1, 2, 4096, 32},
        AttentionShape{1, 4, 2, 256, 4096, 64}}) {
    SCOPED_TRACE(shape.to_string());
    const InputTensors t = make_inputs("lm", shape, 13);
    const LmShares s = lm_shares(t, 32);
    // Model (inputs.cpp): sinks 0.08-0.3, heavy 0.09-0.28, band 0.09-0.15, slash 0.22-0.46.
    for (double share : {s.sinks, s.heavy, s.band}) {
      EXPECT_GE(share, 0.05);
      EXPECT_LE(share, 0.6);  // no structure alone explains a row
    }
    EXPECT_GE(s.slash, 0.15);
    EXPECT_GE(s.slash, 3 * s.slash_keys);  // the lines are heavy, not merely many keys
    EXPECT_LE(s.slash, 0.6);
    EXPECT_LE(1 - s.sinks - s.heavy - s.band - s.slash, 0.2);
  }
}

TEST(InputsTest, SameSeedSameBitsOtherSeedOtherBits) {
  const Shape shape{2, 3, 100, 17};  // odd D covers the unpaired last coordinate of `local`
  for (const auto& name : generator_names()) {
    SCOPED_TRACE(name);
    const InputTensors a = make_inputs(name, shape, 42);
    const InputTensors b = make_inputs(name, shape, 42);
    const InputTensors c = make_inputs(name, shape, 43);
    EXPECT_TRUE(same_bits(a, b));
    EXPECT_FALSE(same_bits(a.q, c.q));
    EXPECT_FALSE(same_bits(a.k, c.k));
    EXPECT_FALSE(same_bits(a.v, c.v));
    // Problems differ from one another: no two heads share a stream.
    const auto head_size = static_cast<std::size_t>(shape.seq_len * shape.head_dim);
    EXPECT_NE(std::memcmp(a.q.view().head(0, 0), a.q.view().head(0, 1), head_size * 4), 0);
    EXPECT_NE(std::memcmp(a.q.view().head(0, 0), a.q.view().head(1, 0), head_size * 4), 0);
  }
}

TEST(InputsTest, BitsDoNotDependOnThreadCount) {
  // Square self-attention (also with shared QK), and a serving shape: grouped heads, 9 queries.
  for (const AttentionShape& shape :
       {AttentionShape{2, 4, 256, 32}, AttentionShape{2, 4, 2, 9, 256, 17}}) {
    for (const auto& name : generator_names()) {
      SCOPED_TRACE(name + " " + shape.to_string());
      InputTensors one, two;
      tbb::task_arena(1).execute([&] { one = make_inputs(name, shape, 7); });
      tbb::task_arena(2).execute([&] { two = make_inputs(name, shape, 7); });
      EXPECT_TRUE(same_bits(one, two));
      if (!shape.square()) continue;
      InputTensors shared_one, shared_two;
      tbb::task_arena(1).execute([&] { shared_one = make_inputs(name, shape, 7, true); });
      tbb::task_arena(2).execute([&] { shared_two = make_inputs(name, shape, 7, true); });
      EXPECT_TRUE(same_bits(shared_one, shared_two));
    }
  }
}

TEST(InputsTest, SharedQkKeysAreUnitLengthQueries) {
  const Shape shape{1, 2, 300, 48};
  for (const auto& name : generator_names()) {
    SCOPED_TRACE(name);
    const InputTensors plain = make_inputs(name, shape, 5);
    const InputTensors shared = make_inputs(name, shape, 5, true);
    EXPECT_TRUE(same_bits(plain.q, shared.q));
    EXPECT_TRUE(same_bits(plain.v, shared.v));
    for (std::int64_t h = 0; h < shape.heads; ++h) {
      for (std::int64_t i = 0; i < shape.seq_len; ++i) {
        const float* q = shared.q.view().row(0, h, i);
        const float* k = shared.k.view().row(0, h, i);
        double q_norm = 0, k_norm = 0;
        for (std::int64_t c = 0; c < shape.head_dim; ++c) {
          q_norm += static_cast<double>(q[c]) * q[c];
          k_norm += static_cast<double>(k[c]) * k[c];
        }
        ASSERT_NEAR(k_norm, 1.0, 1e-5) << "row " << i;
        const double scale = 1.0 / std::sqrt(q_norm);
        for (std::int64_t c = 0; c < shape.head_dim; ++c) {
          ASSERT_NEAR(k[c], q[c] * scale, 1e-6);
        }
      }
    }
  }
}

// FNV-1a over a tensor's bytes: a short fingerprint of its exact bits.
std::uint64_t fingerprint(const Tensor& t) {
  std::uint64_t hash = 1469598103934665603ull;
  const auto* bytes = reinterpret_cast<const unsigned char*>(t.data().data());
  for (std::size_t i = 0; i < t.data().size_bytes(); ++i) {
    hash ^= bytes[i];
    hash *= 1099511628211ull;
  }
  return hash;
}

// The bits of round 1, before serving shapes: recorded with the round-1 generators (commit
// cad0608, GCC 12, glibc 2.36, x86-64) at seed 42. Every square point of every old CSV was
// measured on these inputs, so they must never change; a new generator is a new name.
TEST(InputsTest, SquareShapesGiveTheRoundOneBits) {
  struct Golden {
    const char* input;
    Shape shape;
    std::uint64_t q, k, v;
  };
  const Golden golden[] = {
      {"gaussian", {2, 3, 100, 17}, 0x5ba228e48d7b90b7u, 0x20ef1318ec17badau, 0x5a65eb2dadc226d8u},
      {"gaussian", {1, 4, 64, 16}, 0x0009a0c9a07cc314u, 0x2349d783b021f630u, 0x8a3423315f8d224cu},
      {"local", {2, 3, 100, 17}, 0x4bace72871768f02u, 0xb16bdf23408ac21au, 0x5a65eb2dadc226d8u},
      {"local", {1, 4, 64, 16}, 0xab1c73cd33671c83u, 0x245c032f58efbdb4u, 0x8a3423315f8d224cu},
      {"clustered", {2, 3, 100, 17}, 0x378cbcadedd2aeb8u, 0x017fb51b0160b298u, 0x5a65eb2dadc226d8u},
      {"clustered", {1, 4, 64, 16}, 0x5d56f401ddf3763cu, 0x8d78d14eee4beffau, 0x8a3423315f8d224cu},
      {"sinks", {2, 3, 100, 17}, 0x154ee453919e73a6u, 0x39b948d0190ba3adu, 0x5a65eb2dadc226d8u},
      {"sinks", {1, 4, 64, 16}, 0x3720eef94a3918e1u, 0xc7f5ba83b1fe4927u, 0x8a3423315f8d224cu},
  };
  for (const Golden& g : golden) {
    SCOPED_TRACE(std::string(g.input) + " " + g.shape.to_string());
    // The round-1 four-number shape and the explicit square one are the same point.
    const AttentionShape square(g.shape.batch, g.shape.heads, g.shape.heads, g.shape.seq_len,
                                g.shape.seq_len, g.shape.head_dim);
    for (const InputTensors& t :
         {make_inputs(g.input, g.shape, 42), make_inputs(g.input, square, 42)}) {
      EXPECT_EQ(fingerprint(t.q), g.q);
      EXPECT_EQ(fingerprint(t.k), g.k);
      EXPECT_EQ(fingerprint(t.v), g.v);
    }
  }
  // shared-QK: K is then derived from Q, so Q, V and the derived K keep their bits too.
  struct SharedGolden {
    const char* input;
    std::uint64_t q, k, v;
  };
  const SharedGolden shared[] = {
      {"gaussian", 0xf26f5defc5feee28u, 0x7534446749f6c849u, 0xa3784d93004df60au},
      {"local", 0x61219e017ec97c08u, 0x86701abe733c0cceu, 0xa3784d93004df60au},
      {"clustered", 0x933dd4b70d61f6f5u, 0xc81166a6b604ee94u, 0xa3784d93004df60au},
      {"sinks", 0x2ab8665de3ee4a53u, 0xaedce3880048531cu, 0xa3784d93004df60au},
  };
  for (const SharedGolden& g : shared) {
    SCOPED_TRACE(std::string("shared-qk ") + g.input);
    const InputTensors t = make_inputs(g.input, Shape{1, 2, 50, 9}, 3, true);
    EXPECT_EQ(fingerprint(t.q), g.q);
    EXPECT_EQ(fingerprint(t.k), g.k);
    EXPECT_EQ(fingerprint(t.v), g.v);
  }
}

bool same_rows(const float* a, const float* b, std::int64_t rows, std::int64_t d) {
  return std::memcmp(a, b, static_cast<std::size_t>(rows * d) * sizeof(float)) == 0;
}

// A decode (or chunked-prefill) point's queries are the last M queries of the square point, over
// the same K and V, bit for bit: a variant's decode row is then comparable with its square row.
TEST(InputsTest, QueriesOfAShortQueryLenAreTheTailOfTheSquareQueries) {
  // Odd D: (N - M)·D odd exercises the normal pair split across the first query.
  const std::int64_t b = 2, h = 3, n = 100, d = 17;
  for (const auto& name : generator_names()) {
    const InputTensors square = make_inputs(name, Shape{b, h, n, d}, 42);
    for (std::int64_t m : {1, 2, 7, 64, 99, 100}) {
      SCOPED_TRACE(name + " M=" + std::to_string(m));
      const InputTensors t = make_inputs(name, AttentionShape{b, h, h, m, n, d}, 42);
      ASSERT_EQ(t.q.shape(), (Shape{b, h, m, d}));
      ASSERT_EQ(t.k.shape(), (Shape{b, h, n, d}));
      EXPECT_TRUE(same_bits(t.k, square.k));
      EXPECT_TRUE(same_bits(t.v, square.v));
      for (std::int64_t bi = 0; bi < b; ++bi)
        for (std::int64_t hi = 0; hi < h; ++hi)
          EXPECT_TRUE(same_rows(t.q.view().head(bi, hi), square.q.view().row(bi, hi, n - m), m, d))
              << "batch " << bi << " head " << hi;
    }
  }
}

// kv head j is the square generator's head j whatever H is; query heads keep their own noise
// (gaussian has nothing else, so its query heads are the square ones exactly) and read the
// structure of their kv head.
TEST(InputsTest, GroupedKvHeadsAreTheSquareHeadsAndQueriesKeepTheirStreams) {
  const std::int64_t n = 64, d = 16;
  for (const auto& name : generator_names()) {
    SCOPED_TRACE(name);
    const InputTensors square2 = make_inputs(name, Shape{1, 2, n, d}, 5);
    const InputTensors square8 = make_inputs(name, Shape{1, 8, n, d}, 5);
    const InputTensors grouped = make_inputs(name, AttentionShape{1, 8, 2, n, n, d}, 5);
    ASSERT_EQ(grouped.k.shape(), (Shape{1, 2, n, d}));
    EXPECT_TRUE(same_bits(grouped.k, square2.k));
    EXPECT_TRUE(same_bits(grouped.v, square2.v));
    // Query heads 0 and 4 are the first of their groups, reading kv heads 0 and 1.
    for (std::int64_t h = 0; h < 8; ++h) {
      const bool same = same_rows(grouped.q.view().head(0, h), square8.q.view().head(0, h), n, d);
      if (name == "gaussian" || h == 0) {
        // No structure, or the structure of head 0 is kv head 0's.
        EXPECT_TRUE(same) << "query head " << h;
      } else {
        EXPECT_FALSE(same) << "query head " << h << " kept the structure of square head " << h;
      }
    }
    // Within a group the query heads differ (their own streams) ...
    EXPECT_FALSE(same_rows(grouped.q.view().head(0, 0), grouped.q.view().head(0, 1), n, d));
    // ... and a decode point of the grouped shape is the tail of the grouped square point.
    const InputTensors decode = make_inputs(name, AttentionShape{1, 8, 2, 3, n, d}, 5);
    for (std::int64_t h = 0; h < 8; ++h)
      EXPECT_TRUE(same_rows(decode.q.view().head(0, h), grouped.q.view().row(0, h, n - 3), 3, d));
  }
}

// The promised properties hold at serving shapes too, each query head against its kv head, at
// the queries' absolute positions.
TEST(InputsTest, PropertiesHoldForGroupedHeadsAndDecodeQueries) {
  const AttentionShape decode{1, 4, 2, 64, 4096, 64};
  const InputTensors local = make_inputs("local", decode, 5);
  EXPECT_GE(mean_over_rows(local, 16,
                           [](auto, auto, auto, auto position, const auto& w) {
                             return mass_within(w, position, 256);
                           }),
            0.9);
  const InputTensors clustered = make_inputs("clustered", decode, 9);
  EXPECT_GE(mean_over_rows(clustered, 16,
                           [&](auto b, auto h, auto i, auto, const auto& w) {
                             return same_cluster_mass(clustered, b, h, i, w);
                           }),
            0.8);
  const InputTensors sinks = make_inputs("sinks", AttentionShape{1, 4, 1, 1, 16384, 64}, 11);
  EXPECT_GE(mean_over_rows(
                sinks, 1,
                [](auto, auto, auto, auto, const auto& w) { return w[0] + w[1] + w[2] + w[3]; }),
            0.7);
  const InputTensors gaussian = make_inputs("gaussian", AttentionShape{1, 4, 2, 8, 4096, 64}, 1);
  EXPECT_GE(mean_over_rows(gaussian, 8,
                           [](auto, auto, auto, auto, const auto& w) {
                             return perplexity(w) / static_cast<double>(w.size());
                           }),
            0.5);
}

TEST(InputsTest, RejectsSharedQkAndBadServingShapes) {
  for (const AttentionShape& shape :
       {AttentionShape{1, 2, 2, 1, 16, 8}, AttentionShape{1, 2, 1, 16, 16, 8}}) {
    try {
      make_inputs("gaussian", shape, 0, true);
      ADD_FAILURE() << shape.to_string() << " accepted with shared_qk";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("shared_qk"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(shape.to_string()), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(make_inputs("gaussian", AttentionShape{1, 4, 3, 4, 16, 8}, 0),
               std::invalid_argument);
  EXPECT_THROW(make_inputs("local", AttentionShape{1, 4, 2, 17, 16, 8}, 0), std::invalid_argument);
  EXPECT_THROW(make_inputs("sinks", AttentionShape{1, 4, 2, 0, 16, 8}, 0), std::invalid_argument);
}

// A directory of q.npy, k.npy and v.npy under the system temp dir, removed afterwards.
class InputsNpyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("attnbench_inputs_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  // Writes DIR/<name> with distinct values (offset by `base`) and returns them.
  std::vector<float> write(const std::string& name, const std::vector<std::int64_t>& shape,
                           float base) {
    std::size_t n = 1;
    for (auto d : shape) n *= static_cast<std::size_t>(d);
    std::vector<float> values(n);
    for (std::size_t i = 0; i < n; ++i) values[i] = base + static_cast<float>(i) / 8.0f;
    write_npy_f32((dir_ / name).string(), shape, values);
    return values;
  }

  std::string input() const { return "npy:" + dir_.string(); }

  fs::path dir_;
};

void expect_values(const Tensor& t, const std::vector<float>& values) {
  ASSERT_EQ(t.data().size(), values.size());
  EXPECT_EQ(std::memcmp(t.data().data(), values.data(), values.size() * 4), 0);
}

TEST_F(InputsNpyTest, LoadsMatrices) {
  const auto q = write("q.npy", {10, 6}, 0.0f);
  const auto k = write("k.npy", {10, 6}, 100.0f);
  const auto v = write("v.npy", {10, 6}, -100.0f);
  const AttentionShape expected{1, 1, 10, 6};
  EXPECT_EQ(npy_input_shape(dir_.string()), expected);
  // The shape and seed arguments are ignored for npy inputs.
  const InputTensors t = make_inputs(input(), {4, 4, 4, 4}, 99);
  EXPECT_EQ(t.q.shape(), expected.query_shape());
  expect_values(t.q, q);
  expect_values(t.k, k);
  expect_values(t.v, v);
  const InputTensors shared = make_inputs(input(), {}, 0, true);
  double norm = 0;
  for (std::int64_t c = 0; c < 6; ++c) norm += std::pow(shared.k.view().row(0, 0, 3)[c], 2);
  EXPECT_NEAR(norm, 1.0, 1e-5);
}

TEST_F(InputsNpyTest, LoadsFourDimensionalTensors) {
  const auto q = write("q.npy", {2, 3, 5, 4}, 0.0f);
  const auto k = write("k.npy", {2, 3, 5, 4}, 1.0f);
  const auto v = write("v.npy", {2, 3, 5, 4}, 2.0f);
  const AttentionShape expected{2, 3, 5, 4};
  EXPECT_EQ(npy_input_shape(dir_.string()), expected);
  const InputTensors t = make_inputs(input(), expected, 0);
  EXPECT_EQ(t.v.shape(), expected.kv_shape());
  expect_values(t.q, q);
  expect_values(t.k, k);
  expect_values(t.v, v);
}

void expect_invalid(const std::function<void()>& f, const std::vector<std::string>& phrases) {
  try {
    f();
    ADD_FAILURE() << "accepted";
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    for (const auto& phrase : phrases) {
      EXPECT_NE(message.find(phrase), std::string::npos)
          << "missing \"" << phrase << "\" in: " << message;
    }
  }
}

TEST_F(InputsNpyTest, RejectsMismatchedShapesNamingTheFiles) {
  write("q.npy", {8, 4}, 0.0f);
  write("k.npy", {8, 4}, 0.0f);
  write("v.npy", {1, 1, 9, 4}, 0.0f);
  const std::string dir = dir_.string();
  expect_invalid([&] { npy_input_shape(dir); },
                 {dir + "/k.npy", "(8, 4)", dir + "/v.npy", "(1, 1, 9, 4)", "same shape"});
  expect_invalid([&] { make_inputs(input(), {}, 0); }, {dir + "/v.npy", "same shape"});
}

// Captured at decode with grouped-query attention: Q [B, H, M, D], K and V [B, kv, N, D].
TEST_F(InputsNpyTest, LoadsServingShapes) {
  const auto q = write("q.npy", {2, 4, 3, 5}, 0.0f);
  const auto k = write("k.npy", {2, 2, 7, 5}, 100.0f);
  const auto v = write("v.npy", {2, 2, 7, 5}, -100.0f);
  const AttentionShape expected{2, 4, 2, 3, 7, 5};
  EXPECT_EQ(npy_input_shape(dir_.string()), expected);
  const InputTensors t = make_inputs(input(), {}, 0);
  EXPECT_EQ(t.q.shape(), expected.query_shape());
  EXPECT_EQ(t.k.shape(), expected.kv_shape());
  EXPECT_EQ(t.v.shape(), expected.kv_shape());
  expect_values(t.q, q);
  expect_values(t.k, k);
  expect_values(t.v, v);
  // K cannot be the normalised Q of another shape.
  expect_invalid([&] { make_inputs(input(), {}, 0, true); },
                 {"shared_qk", "B=2 H=4 KV=2 M=3 N=7 D=5"});
  // [M, D] queries over [N, D] keys: B = H = kv = 1.
  write("q.npy", {1, 5}, 0.0f);
  write("k.npy", {7, 5}, 0.0f);
  write("v.npy", {7, 5}, 0.0f);
  EXPECT_EQ(npy_input_shape(dir_.string()), (AttentionShape{1, 1, 1, 1, 7, 5}));
}

TEST_F(InputsNpyTest, RejectsServingShapesThatDisagreeNamingFileAndExpectedShape) {
  const std::string dir = dir_.string();
  const std::string q = dir + "/q.npy", k = dir + "/k.npy";
  write("q.npy", {1, 4, 3, 8}, 0.0f);
  write("k.npy", {1, 3, 16, 8}, 0.0f);
  write("v.npy", {1, 3, 16, 8}, 0.0f);
  expect_invalid([&] { npy_input_shape(dir); },
                 {k, "(1, 3, 16, 8)", "3 kv heads do not divide q.npy's 4 query heads",
                  "expected [1, KV, N, 8]", q, "(1, 4, 3, 8)"});
  write("k.npy", {2, 2, 16, 8}, 0.0f);
  write("v.npy", {2, 2, 16, 8}, 0.0f);
  expect_invalid([&] { npy_input_shape(dir); },
                 {k, "(2, 2, 16, 8)", "batch 2 differs from q.npy's 1", "expected [1, KV, N, 8]"});
  write("k.npy", {1, 2, 16, 4}, 0.0f);
  write("v.npy", {1, 2, 16, 4}, 0.0f);
  expect_invalid([&] { npy_input_shape(dir); },
                 {k, "head_dim 4 differs from q.npy's 8", "expected [1, KV, N, 8]"});
  write("k.npy", {1, 2, 2, 8}, 0.0f);
  write("v.npy", {1, 2, 2, 8}, 0.0f);
  expect_invalid([&] { npy_input_shape(dir); },
                 {q, "(1, 4, 3, 8)", "3 queries are more than the 2 keys", k,
                  "expected [1, 4, M, 8] with M <= 2"});
  write("k.npy", {1, 2, 16, 8}, 0.0f);
  write("v.npy", {1, 1, 16, 8}, 0.0f);
  expect_invalid([&] { make_inputs(input(), {}, 0); },
                 {dir + "/v.npy", "(1, 1, 16, 8)", "(1, 2, 16, 8)", "same shape"});
  write("v.npy", {1, 2, 16, 8}, 0.0f);
  EXPECT_EQ(npy_input_shape(dir), (AttentionShape{1, 4, 2, 3, 16, 8}));
}

TEST_F(InputsNpyTest, AcceptsEquivalentShapesOfDifferentRank) {
  // [N, D] means B = H = 1, so it agrees with [1, 1, N, D].
  write("q.npy", {8, 4}, 0.0f);
  write("k.npy", {1, 1, 8, 4}, 0.0f);
  write("v.npy", {8, 4}, 0.0f);
  EXPECT_EQ(npy_input_shape(dir_.string()), (AttentionShape{1, 1, 8, 4}));
}

TEST_F(InputsNpyTest, RejectsMissingFilesAndBadRanks) {
  write("q.npy", {8, 4}, 0.0f);
  write("k.npy", {8, 4}, 0.0f);
  const std::string dir = dir_.string();
  expect_invalid([&] { npy_input_shape(dir); }, {dir + "/v.npy", "no such file"});
  write("v.npy", {2, 8, 4}, 0.0f);
  expect_invalid([&] { npy_input_shape(dir); },
                 {dir + "/v.npy", "(2, 8, 4)", "expected [B, KV, N, D] or [N, D]"});
  write("v.npy", {0, 4}, 0.0f);
  expect_invalid([&] { npy_input_shape(dir); }, {dir + "/v.npy", "must be positive"});
  fs::remove(dir_ / "q.npy");
  expect_invalid([&] { make_inputs(input(), {}, 0); }, {dir + "/q.npy", "no such file"});
}

}  // namespace
}  // namespace attn::harness
