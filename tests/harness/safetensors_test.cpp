// The .safetensors reader and the safetensors:DIR input: exact widening of F32, F16 and BF16,
// every malformed header refused with the file and the problem named, and the layer and head
// selection of captured Q, K and V.
#include "harness/io/safetensors.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "harness/cli/options.hpp"
#include "harness/measure/captured_inputs.hpp"
#include "harness/measure/inputs.hpp"
#include "tests/support/test_support.hpp"

namespace attn::harness {
namespace {

namespace fs = std::filesystem;

struct Entry {
  std::string name, dtype;
  std::vector<std::int64_t> shape;
  std::string bytes;
};

std::string shape_json(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

// A .safetensors file as the format defines it; `header` replaces the JSON when given.
void write_safetensors(const fs::path& path, const std::vector<Entry>& entries,
                       const std::string& metadata = "", const std::string& header = "") {
  std::string json = "{";
  std::string data;
  for (const auto& e : entries) {
    json += (json.size() > 1 ? "," : "") + std::string("\"") + e.name + "\":{\"dtype\":\"" +
            e.dtype + "\",\"shape\":" + shape_json(e.shape) + ",\"data_offsets\":[" +
            std::to_string(data.size()) + "," + std::to_string(data.size() + e.bytes.size()) + "]}";
    data += e.bytes;
  }
  if (!metadata.empty())
    json += (json.size() > 1 ? "," : "") + std::string("\"__metadata__\":") + metadata;
  json += "}";
  if (!header.empty()) json = header;
  std::string size(8, '\0');
  for (int i = 0; i < 8; ++i)
    size[static_cast<std::size_t>(i)] = static_cast<char>((json.size() >> (8 * i)) & 0xFF);
  std::ofstream(path, std::ios::binary) << size << json << data;
}

template <class T>
std::string raw_bytes(const std::vector<T>& values) {
  return {reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T)};
}

// Distinct float values base, base + 1/8, ..., exact in bf16 and f16 alike for small counts.
std::vector<float> ramp(std::size_t n, float base) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = base + static_cast<float>(i) / 8.0f;
  return v;
}

std::vector<std::uint16_t> as_bf16(const std::vector<float>& v) {
  std::vector<std::uint16_t> out;
  for (float x : v)
    out.push_back(static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(x) >> 16));
  return out;
}

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::temp_dir(); }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Writes layer `layer`'s q [B,H,M,D], k and v [B,KV,N,D] (ramps from 0, 100, -100) as F32.
  void write_layer(const std::string& file, int layer, std::vector<std::int64_t> q_shape,
                   std::vector<std::int64_t> kv_shape) {
    const auto count = [](const std::vector<std::int64_t>& s) {
      std::size_t n = 1;
      for (auto d : s) n *= static_cast<std::size_t>(d);
      return n;
    };
    const std::string prefix = "layers." + std::to_string(layer) + ".";
    write_safetensors(dir_ / file,
                      {{prefix + "q", "F32", q_shape, raw_bytes(ramp(count(q_shape), 0.0f))},
                       {prefix + "k", "F32", kv_shape, raw_bytes(ramp(count(kv_shape), 100.0f))},
                       {prefix + "v", "F32", kv_shape, raw_bytes(ramp(count(kv_shape), -100.0f))}},
                      R"({"format":"attnbench-qkv/1"})");
  }

  fs::path dir_;
};

void expect_invalid(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one naming " << parts.front();
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    for (const auto& part : parts)
      EXPECT_NE(message.find(part), std::string::npos) << message << "\n  lacks: " << part;
  }
}

TEST_F(SafetensorsTest, ReadsF32F16AndBf16ExactlyWithMetadata) {
  const std::vector<float> values = {1.0f, -2.5f, 0.125f, 3.0e-5f, 65504.0f, -0.0f};
  // F16 bits of 1, -2.5, 0.125, a denormal (2^-24 · 503), 65504 (the largest), -0.
  const std::vector<std::uint16_t> half = {0x3C00, 0xC100, 0x3000, 0x01F7, 0x7BFF, 0x8000};
  write_safetensors(dir_ / "a.safetensors",
                    {{"f32", "F32", {2, 3}, raw_bytes(values)},
                     {"f16", "F16", {6}, raw_bytes(half)},
                     {"bf16", "BF16", {3, 2}, raw_bytes(as_bf16(values))},
                     {"ids", "I64", {2}, std::string(16, '\0')}},
                    R"({"model":"tiny \"llama\"","note":"caf\u00e9 \n"})");
  const SafetensorsFile file = read_safetensors_header(path("a.safetensors"));
  ASSERT_EQ(file.tensors.size(), 4u);
  EXPECT_EQ(file.metadata.at("model"), "tiny \"llama\"");
  EXPECT_EQ(file.metadata.at("note"), "caf\xC3\xA9 \n");
  const SafetensorsTensor* f32 = file.find("f32");
  ASSERT_NE(f32, nullptr);
  EXPECT_EQ(f32->shape, (std::vector<std::int64_t>{2, 3}));
  std::vector<float> out(6);
  read_safetensors_f32(file, *f32, 0, out);
  EXPECT_EQ(out, values);
  read_safetensors_f32(file, *file.find("f16"), 0, out);
  EXPECT_EQ(out,
            (std::vector<float>{1.0f, -2.5f, 0.125f, std::ldexp(503.0f, -24), 65504.0f, -0.0f}));
  EXPECT_TRUE(std::signbit(out[5]));
  std::vector<float> bf(6);
  read_safetensors_f32(file, *file.find("bf16"), 0, bf);
  for (std::size_t i = 0; i < values.size(); ++i)
    EXPECT_EQ(bf[i], std::bit_cast<float>(std::bit_cast<std::uint32_t>(values[i]) & 0xFFFF0000u));
  // A slice from the middle.
  std::vector<float> two(2);
  read_safetensors_f32(file, *f32, 3, two);
  EXPECT_EQ(two, (std::vector<float>{values[3], values[4]}));
  expect_invalid([&] { read_safetensors_f32(file, *f32, 5, two); }, {"'f32'", "outside"});
  expect_invalid([&] { read_safetensors_f32(file, *file.find("ids"), 0, two); },
                 {path("a.safetensors"), "'ids'", "I64", "expected F32, F16 or BF16"});
}

TEST_F(SafetensorsTest, RefusesNonFiniteValues) {
  write_safetensors(dir_ / "nan.safetensors",
                    {{"x", "F32", {3}, raw_bytes(std::vector<float>{1.0f, NAN, 2.0f})},
                     {"h", "F16", {1}, raw_bytes(std::vector<std::uint16_t>{0x7C00})}});
  const SafetensorsFile file = read_safetensors_header(path("nan.safetensors"));
  std::vector<float> out(3), one(1);
  expect_invalid([&] { read_safetensors_f32(file, *file.find("x"), 0, out); },
                 {"'x'", "flat index 1", "NaN"});
  expect_invalid([&] { read_safetensors_f32(file, *file.find("h"), 0, one); }, {"infinite"});
}

TEST_F(SafetensorsTest, RefusesEveryMalformedHeaderNamingTheProblem) {
  const std::string f = path("bad.safetensors");
  const auto with_header = [&](const std::string& json, const std::string& data = "") {
    std::string size(8, '\0');
    for (int i = 0; i < 8; ++i)
      size[static_cast<std::size_t>(i)] = static_cast<char>((json.size() >> (8 * i)) & 0xFF);
    std::ofstream(f, std::ios::binary | std::ios::trunc) << size << json << data;
  };
  const auto refused = [&](const std::vector<std::string>& parts) {
    expect_invalid([&] { read_safetensors_header(f); }, parts);
  };
  std::ofstream(f, std::ios::binary | std::ios::trunc) << "abc";
  refused({f, "shorter than its 8-byte header size"});
  std::ofstream(f, std::ios::binary | std::ios::trunc)
      << std::string("\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10);
  refused({f, "at most 100000000"});
  std::ofstream(f, std::ios::binary | std::ios::trunc) << std::string("\x40\0\0\0\0\0\0\0{}", 10);
  refused({f, "truncated", "claims 64 bytes"});
  with_header("[1,2]");
  refused({f, "not a JSON object"});
  with_header("{\"x\":{\"dtype\":\"F32\"");
  refused({f, "header JSON", "unexpected end"});
  with_header(R"({"x":{"shape":[1],"data_offsets":[0,4]}})", "abcd");
  refused({f, "'x'", "\"dtype\""});
  with_header(R"({"x":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", "abcd");
  refused({f, "non-integer"});
  with_header(R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "abcd");
  refused({f, "'x'", "non-negative"});
  with_header(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "abcd");
  refused({f, "'x'", "outside the file's 4 data bytes"});
  with_header(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", "abcd");
  refused({f, "'x'", "needs 8 bytes but data_offsets span 4"});
  with_header(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", "abcd");
  refused({f, "'x'", "data_offsets [4, 0]"});
  with_header(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{}})", "abcd");
  refused({f, "'x' appears twice"});
  with_header(R"({"__metadata__":{"a":1}})");
  refused({f, "\"__metadata__\" value 'a' is not a string"});
  with_header(R"({"x":"\q"})");
  refused({f, "unknown escape"});
  with_header(R"({} extra)");
  refused({f, "unexpected text after"});
  with_header(R"({"a":[[[[[[[[[[1]]]]]]]]]]})");
  refused({f, "nested deeper than 8"});
  with_header(R"({"a":99999999999999999999999})");
  refused({f, "larger than 2^64 - 1"});
  expect_invalid([&] { read_safetensors_header(path("missing.safetensors")); },
                 {"missing.safetensors", "cannot open"});
  expect_invalid([&] { read_safetensors_header(dir_.string()); }, {"is a directory"});
}

TEST_F(SafetensorsTest, CapturedLayerReadsAsItsAttentionShape) {
  write_layer("layer-3.safetensors", 3, {1, 4, 5, 3}, {1, 2, 7, 3});
  const std::string input = "safetensors:" + dir_.string();
  EXPECT_EQ(captured_input_shape(input), (AttentionShape{1, 4, 2, 5, 7, 3}));
  EXPECT_EQ(captured_input_shape(input + ",layer=3"), (AttentionShape{1, 4, 2, 5, 7, 3}));
  const InputTensors t = make_inputs(input, {}, 0);
  const auto q = ramp(60, 0.0f), k = ramp(42, 100.0f), v = ramp(42, -100.0f);
  EXPECT_EQ(std::vector<float>(t.q.data().begin(), t.q.data().end()), q);
  EXPECT_EQ(std::vector<float>(t.k.data().begin(), t.k.data().end()), k);
  EXPECT_EQ(std::vector<float>(t.v.data().begin(), t.v.data().end()), v);
}

TEST_F(SafetensorsTest, HeadsChooseQueryHeadsAndTheKvHeadsTheyRead) {
  // B=2, H=8 over KV=2 (groups of 4), M=2, N=3, D=2.
  write_layer("l.safetensors", 0, {2, 8, 2, 2}, {2, 2, 3, 2});
  const std::string input = "safetensors:" + dir_.string();
  const auto q = ramp(2 * 8 * 4, 0.0f), k = ramp(2 * 2 * 6, 100.0f);
  // Whole group 1 (heads 4-7): kv head 1 of each batch.
  CapturedInputs in = read_captured_inputs(input + ",heads=4-7");
  EXPECT_EQ(in.shape, (AttentionShape{2, 4, 1, 2, 3, 2}));
  for (int b = 0; b < 2; ++b) {
    for (int i = 0; i < 16; ++i)
      EXPECT_EQ(in.data[0][static_cast<std::size_t>(b * 16 + i)],
                q[static_cast<std::size_t>((b * 8 + 4) * 4 + i)]);
    for (int i = 0; i < 6; ++i)
      EXPECT_EQ(in.data[1][static_cast<std::size_t>(b * 6 + i)],
                k[static_cast<std::size_t>((b * 2 + 1) * 6 + i)]);
  }
  // Inside one group: heads 5-6 read kv head 1 as a group of two.
  in = read_captured_inputs(input + ",heads=5-6");
  EXPECT_EQ(in.shape, (AttentionShape{2, 2, 1, 2, 3, 2}));
  EXPECT_EQ(in.data[0][0], q[5 * 4]);
  EXPECT_EQ(captured_input_shape(input + ",heads=2"), (AttentionShape{2, 1, 1, 2, 3, 2}));
  EXPECT_EQ(captured_input_shape(input + ",heads=0-7"), (AttentionShape{2, 8, 2, 2, 3, 2}));
  expect_invalid(
      [&] { read_captured_inputs(input + ",heads=2-5"); },
      {"heads=2-5 splits a kv group", "8 query heads read 2 kv heads in groups of 4", "heads=0-3"});
  expect_invalid([&] { read_captured_inputs(input + ",heads=4-8"); },
                 {"goes past the 8 query heads", "(0-7)"});
  expect_invalid([&] { read_captured_inputs(input + ",heads=3-1"); }, {"heads='3-1'"});
  expect_invalid([&] { read_captured_inputs(input + ",layer=2"); },
                 {"holds no layer 2", "it holds layers 0"});
  expect_invalid([&] { read_captured_inputs(input + ",rope=yes"); },
                 {"unknown option 'rope=yes'", "allowed: layer=, heads="});
}

TEST_F(SafetensorsTest, LayersMaySpreadOverFilesButMustBeChosenAndComplete) {
  write_layer("a.safetensors", 0, {1, 2, 4, 2}, {1, 1, 4, 2});
  write_layer("b.safetensors", 1, {1, 2, 4, 2}, {1, 2, 4, 2});
  const std::string input = "safetensors:" + dir_.string();
  expect_invalid([&] { captured_input_shape(input); },
                 {"holds layers 0, 1", "choose one with layer=L"});
  EXPECT_EQ(captured_input_shape(input + ",layer=1"), (AttentionShape{1, 2, 2, 4, 4, 2}));
  EXPECT_EQ(captured_input_shape(input + ",layer=0,heads=1"), (AttentionShape{1, 1, 1, 4, 4, 2}));
  // q in one file, k and v in another.
  fs::remove(dir_ / "a.safetensors");
  fs::remove(dir_ / "b.safetensors");
  write_safetensors(dir_ / "q.safetensors",
                    {{"layers.5.q", "BF16", {1, 1, 2, 2}, raw_bytes(as_bf16({1, 2, 3, 4}))}});
  write_safetensors(
      dir_ / "kv.safetensors",
      {{"layers.5.k", "F16", {1, 1, 2, 2}, raw_bytes(std::vector<std::uint16_t>(4, 0x3C00))}});
  expect_invalid([&] { captured_input_shape(input); }, {"layer 5 has no tensor layers.5.v"});
  write_safetensors(
      dir_ / "kv.safetensors",
      {{"layers.5.k", "F16", {1, 1, 2, 2}, raw_bytes(std::vector<std::uint16_t>(4, 0x3C00))},
       {"layers.5.v", "F32", {1, 1, 3, 2}, raw_bytes(ramp(6, 0.0f))}});
  expect_invalid([&] { captured_input_shape(input); },
                 {"tensor 'layers.5.v'", "(1, 1, 3, 2)",
                  "layers.5.k and layers.5.v must have the same shape"});
  write_safetensors(
      dir_ / "kv.safetensors",
      {{"layers.5.k", "F16", {1, 1, 2, 2}, raw_bytes(std::vector<std::uint16_t>(4, 0x3C00))},
       {"layers.5.v", "F32", {1, 1, 2, 2}, raw_bytes(ramp(4, 0.0f))}});
  const InputTensors t = make_inputs(input, {}, 0);
  EXPECT_EQ(std::vector<float>(t.q.data().begin(), t.q.data().end()),
            (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(std::vector<float>(t.k.data().begin(), t.k.data().end()),
            (std::vector<float>(4, 1.0f)));
  write_safetensors(dir_ / "z.safetensors",
                    {{"layers.5.q", "F32", {1, 1, 2, 2}, raw_bytes(ramp(4, 0.0f))}});
  expect_invalid([&] { captured_input_shape(input); },
                 {"'layers.5.q' is in both", "q.safetensors", "z.safetensors"});
}

TEST_F(SafetensorsTest, CommandLineKeepsTheOptionsWithTheInput) {
  write_layer("l.safetensors", 2, {1, 4, 16, 8}, {1, 2, 16, 8});
  const std::string input = "safetensors:" + dir_.string() + ",layer=2,heads=0-1";
  for (const bool sweep : {false, true}) {
    std::vector<std::string> args = {"--variant", "flash", "--input", input};
    if (sweep) args.insert(args.end(), {"--out", path("out.csv")});
    std::string help;
    const auto config = sweep ? parse_sweep_options(args, help) : parse_run_options(args, help);
    ASSERT_TRUE(config.has_value());
    EXPECT_EQ(config->inputs, std::vector<std::string>{input});
    EXPECT_EQ(config->seq_lens, std::vector<std::int64_t>{16});
  }
  std::string help;
  try {
    parse_run_options(
        {"--variant", "flash", "--input", "safetensors:" + dir_.string() + ",layer=x"}, help);
    ADD_FAILURE() << "layer=x accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("layer='x' is not a layer number"), std::string::npos)
        << e.what();
  }
}

TEST(CapturedInputNames, SyntaxIsCheckedBeforeAnyFile) {
  EXPECT_TRUE(is_captured_input("npy:x"));
  EXPECT_TRUE(is_captured_input("safetensors:x,layer=1"));
  EXPECT_FALSE(is_captured_input("lm"));
  EXPECT_NO_THROW(check_input_name("safetensors:caps,layer=12,heads=0-7"));
  for (const std::string bad : {"safetensors:", "safetensors:,layer=1", "safetensors:d,layer=",
                                "safetensors:d,heads=a-b", "safetensors:d,heads"}) {
    try {
      check_input_name(bad);
      ADD_FAILURE() << bad << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("safetensors:DIR[,layer=L][,heads=A-B]"),
                std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace attn::harness
