#include "harness/inputs.hpp"

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

#include "attention/reference.hpp"
#include "attention/variant.hpp"
#include "harness/npy.hpp"

namespace attn::harness {
namespace {

namespace fs = std::filesystem;

AttentionInputs attention_inputs(const InputTensors& t) {
  return {t.q.view(), t.k.view(), t.v.view(), false, default_scale(t.q.shape().head_dim)};
}

// Evenly spread query rows, so that rows near both ends and the middle are measured.
std::vector<std::int64_t> sample_rows(std::int64_t n, std::int64_t count) {
  std::vector<std::int64_t> rows;
  for (std::int64_t r = 0; r < std::min(n, count); ++r)
    rows.push_back((2 * r + 1) * n / (2 * count));
  return rows;
}

// The mean over heads and sampled rows of `statistic(b, h, query, weights)`, where `weights` are
// full attention's fp64 softmax weights at the default scale.
template <class Statistic>
double mean_over_rows(const InputTensors& t, std::int64_t rows_per_head, Statistic statistic) {
  const AttentionInputs in = attention_inputs(t);
  const Shape& s = t.q.shape();
  std::vector<double> weights;
  double sum = 0;
  std::int64_t count = 0;
  for (std::int64_t b = 0; b < s.batch; ++b) {
    for (std::int64_t h = 0; h < s.heads; ++h) {
      for (std::int64_t i : sample_rows(s.seq_len, rows_per_head)) {
        full_attention_weights(in, b, h, i, weights);
        sum += statistic(b, h, i, weights);
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
            (std::vector<std::string>{"gaussian", "local", "clustered", "sinks"}));
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
      EXPECT_NE(message.find("allowed: gaussian, local, clustered, sinks, npy:DIR"),
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
  const double ppl = mean_over_rows(t, 16, [](auto, auto, auto, const auto& w) {
    return perplexity(w) / static_cast<double>(w.size());
  });
  const double max_weight = mean_over_rows(
      t, 16, [](auto, auto, auto, const auto& w) { return *std::max_element(w.begin(), w.end()); });
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
    const double share = mean_over_rows(
        t, c.rows, [](auto, auto, auto i, const auto& w) { return mass_within(w, i, 256); });
    EXPECT_GE(share, 0.9);
    // Local, but not a single key: the weights spread over tens of keys.
    const double ppl =
        mean_over_rows(t, c.rows, [](auto, auto, auto, const auto& w) { return perplexity(w); });
    EXPECT_GE(ppl, 8.0);
  }
}

// A key is in the query's cluster when their directions agree: same-cluster pairs have a cosine
// of about 0.7 (D = 64), other pairs about 0 ± 0.1.
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
  for (std::size_t j = 0; j < w.size(); ++j) {
    const float* k = t.k.view().row(b, h, static_cast<std::int64_t>(j));
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
    const double share = mean_over_rows(t, 16, [&](auto b, auto h, auto i, const auto& w) {
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
        t, 32, [](auto, auto, auto, const auto& w) { return w[0] + w[1] + w[2] + w[3]; });
    EXPECT_GE(share, 0.7);  // model: about 0.8 at every N
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
  const Shape shape{2, 4, 256, 32};
  for (const auto& name : generator_names()) {
    SCOPED_TRACE(name);
    InputTensors one, two;
    tbb::task_arena(1).execute([&] { one = make_inputs(name, shape, 7); });
    tbb::task_arena(2).execute([&] { two = make_inputs(name, shape, 7); });
    EXPECT_TRUE(same_bits(one, two));
    InputTensors shared_one, shared_two;
    tbb::task_arena(1).execute([&] { shared_one = make_inputs(name, shape, 7, true); });
    tbb::task_arena(2).execute([&] { shared_two = make_inputs(name, shape, 7, true); });
    EXPECT_TRUE(same_bits(shared_one, shared_two));
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
  const Shape expected{1, 1, 10, 6};
  EXPECT_EQ(npy_input_shape(dir_.string()), expected);
  // The shape and seed arguments are ignored for npy inputs.
  const InputTensors t = make_inputs(input(), {4, 4, 4, 4}, 99);
  EXPECT_EQ(t.q.shape(), expected);
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
  const Shape expected{2, 3, 5, 4};
  EXPECT_EQ(npy_input_shape(dir_.string()), expected);
  const InputTensors t = make_inputs(input(), expected, 0);
  EXPECT_EQ(t.v.shape(), expected);
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
                 {dir + "/q.npy", "(8, 4)", dir + "/v.npy", "(1, 1, 9, 4)", "same shape"});
  expect_invalid([&] { make_inputs(input(), {}, 0); }, {dir + "/v.npy", "same shape"});
}

TEST_F(InputsNpyTest, AcceptsEquivalentShapesOfDifferentRank) {
  // [N, D] means B = H = 1, so it agrees with [1, 1, N, D].
  write("q.npy", {8, 4}, 0.0f);
  write("k.npy", {1, 1, 8, 4}, 0.0f);
  write("v.npy", {8, 4}, 0.0f);
  EXPECT_EQ(npy_input_shape(dir_.string()), (Shape{1, 1, 8, 4}));
}

TEST_F(InputsNpyTest, RejectsMissingFilesAndBadRanks) {
  write("q.npy", {8, 4}, 0.0f);
  write("k.npy", {8, 4}, 0.0f);
  const std::string dir = dir_.string();
  expect_invalid([&] { npy_input_shape(dir); }, {dir + "/v.npy", "no such file"});
  write("v.npy", {2, 8, 4}, 0.0f);
  expect_invalid([&] { npy_input_shape(dir); },
                 {dir + "/v.npy", "(2, 8, 4)", "expected [B, H, N, D] or [N, D]"});
  write("v.npy", {0, 4}, 0.0f);
  expect_invalid([&] { npy_input_shape(dir); }, {dir + "/v.npy", "must be positive"});
  fs::remove(dir_ / "q.npy");
  expect_invalid([&] { make_inputs(input(), {}, 0); }, {dir + "/q.npy", "no such file"});
}

}  // namespace
}  // namespace attn::harness
