#include "harness/io/npy.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

namespace attn::harness {
namespace {

namespace fs = std::filesystem;

// A fresh directory under the system temp dir, removed with everything in it afterwards.
class NpyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("attnbench_npy_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Writes `bytes` as they are, for hand-crafted malformed files.
  std::string write_raw(const std::string& name, const std::string& bytes) const {
    const std::string p = path(name);
    std::ofstream out(p, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    EXPECT_TRUE(out.good());
    return p;
  }

  fs::path dir_;
};

std::string float_bytes(const std::vector<float>& values) {
  std::string s(values.size() * sizeof(float), '\0');
  if (!values.empty()) std::memcpy(s.data(), values.data(), s.size());
  return s;
}

// A .npy file of the given version around `header` (padded and ended by '\n' as NumPy does
// unless `raw_header`) followed by `data`.
std::string npy_bytes(int major, std::string header, const std::string& data,
                      bool raw_header = false) {
  const std::size_t length_bytes = major == 1 ? 2 : 4;
  if (!raw_header) {
    const std::size_t total = 6 + 2 + length_bytes + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header += '\n';
  }
  std::string s = "\x93NUMPY";
  s += static_cast<char>(major);
  s += '\0';
  for (std::size_t i = 0; i < length_bytes; ++i) {
    s += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  }
  return s + header + data;
}

std::string f4_header(const std::string& shape) {
  return "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
}

// Expects read_npy_f32 to throw std::invalid_argument whose message names the file and holds
// every one of `phrases`.
void expect_rejected(const std::string& path, const std::vector<std::string>& phrases) {
  try {
    read_npy_f32(path);
    ADD_FAILURE() << path << " was accepted";
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    for (const auto& phrase : phrases) {
      EXPECT_NE(message.find(phrase), std::string::npos)
          << "missing \"" << phrase << "\" in: " << message;
    }
  }
}

std::vector<float> iota_values(std::size_t n) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i) * 0.25f - 3.0f;
  return v;
}

void expect_round_trip(const std::string& path, const std::vector<std::int64_t>& shape) {
  std::size_t n = 1;
  for (auto d : shape) n *= static_cast<std::size_t>(d);
  const std::vector<float> values = iota_values(n);
  write_npy_f32(path, shape, values);
  const NpyArray a = read_npy_f32(path);
  EXPECT_EQ(a.shape, shape);
  ASSERT_EQ(a.data.size(), n);
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(a.data[i], values[i]) << i;
}

TEST_F(NpyTest, RoundTripF32Matrix) { expect_round_trip(path("m.npy"), {7, 5}); }

TEST_F(NpyTest, RoundTripF32FourDimensional) { expect_round_trip(path("t.npy"), {2, 3, 5, 4}); }

TEST_F(NpyTest, RoundTripF32OneDimensionalScalarAndEmpty) {
  expect_round_trip(path("v.npy"), {9});
  expect_round_trip(path("s.npy"), {});
  expect_round_trip(path("e.npy"), {0, 64});
}

TEST_F(NpyTest, RoundTripKeepsExtremeFiniteValues) {
  const std::vector<float> values = {std::numeric_limits<float>::max(),
                                     std::numeric_limits<float>::lowest(),
                                     std::numeric_limits<float>::denorm_min(), -0.0f};
  const std::vector<std::int64_t> shape = {4};
  write_npy_f32(path("x.npy"), shape, values);
  const NpyArray a = read_npy_f32(path("x.npy"));
  EXPECT_EQ(std::memcmp(a.data.data(), values.data(), sizeof(float) * 4), 0);
}

TEST_F(NpyTest, WrittenHeaderIsNumpyFormat10) {
  const std::vector<std::int64_t> shape = {3, 2};
  write_npy_f32(path("h.npy"), shape, iota_values(6));
  std::ifstream in(path("h.npy"), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GE(bytes.size(), 10u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const std::size_t header_size =
      static_cast<unsigned char>(bytes[8]) |
      (static_cast<std::size_t>(static_cast<unsigned char>(bytes[9])) << 8);
  EXPECT_EQ((10 + header_size) % 64, 0u);
  const std::string header = bytes.substr(10, header_size);
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ(header.rfind("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", 0), 0u)
      << header;
  EXPECT_EQ(bytes.size(), 10 + header_size + 6 * sizeof(float));
}

TEST_F(NpyTest, RoundTripU8) {
  const std::vector<std::int64_t> shape = {2, 3};
  const std::vector<std::uint8_t> values = {0, 1, 2, 127, 128, 255};
  write_npy_u8(path("u.npy"), shape, values);
  std::ifstream in(path("u.npy"), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(bytes.size() % 64, 6u);  // a 64-byte aligned preamble, then 6 data bytes
  EXPECT_NE(bytes.find("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }"),
            std::string::npos);
  EXPECT_EQ(bytes.substr(bytes.size() - 6), std::string(values.begin(), values.end()));
  // The float32 reader names the dtype it found.
  expect_rejected(path("u.npy"), {"'|u1'", "uint8", "expected '<f4'"});
}

TEST_F(NpyTest, WriterRejectsShapeDataMismatch) {
  const std::vector<std::int64_t> shape = {2, 3};
  EXPECT_THROW(write_npy_f32(path("bad.npy"), shape, iota_values(5)), std::invalid_argument);
  const std::vector<std::int64_t> negative = {-1, 3};
  EXPECT_THROW(write_npy_f32(path("bad.npy"), negative, iota_values(3)), std::invalid_argument);
}

TEST_F(NpyTest, WriterFailureNamesThePath) {
  const std::string p = path("no_such_dir/out.npy");
  const std::vector<std::int64_t> shape = {2};
  try {
    write_npy_f32(p, shape, iota_values(2));
    ADD_FAILURE() << "writing into a missing directory succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
  if (fs::exists("/dev/full")) {  // a device whose every write fails with ENOSPC
    EXPECT_THROW(write_npy_f32("/dev/full", shape, iota_values(2)), std::runtime_error);
  }
}

TEST_F(NpyTest, ReadsFormatVersions2And3) {
  const std::string data = float_bytes({1.5f, -2.0f, 3.25f});
  for (int major : {2, 3}) {
    const std::string p =
        write_raw("v" + std::to_string(major) + ".npy", npy_bytes(major, f4_header("(3,)"), data));
    const NpyArray a = read_npy_f32(p);
    ASSERT_EQ(a.shape, std::vector<std::int64_t>{3});
    EXPECT_EQ(a.data[0], 1.5f);
    EXPECT_EQ(a.data[2], 3.25f);
  }
}

TEST_F(NpyTest, AcceptsHeaderSpellingsNumpyCanProduce) {
  const std::string data = float_bytes(iota_values(6));
  const std::vector<std::string> headers = {
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}",
      "{\"shape\": (2,3), \"fortran_order\": False, \"descr\": \"<f4\"}",
      "{ 'fortran_order' : False , 'descr' : '<f4' , 'shape' : ( 2 , 3 , ) , }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }",
  };
  for (std::size_t i = 0; i < headers.size(); ++i) {
    const std::string p =
        write_raw("ok" + std::to_string(i) + ".npy", npy_bytes(1, headers[i], data));
    const NpyArray a = read_npy_f32(p);
    EXPECT_EQ(a.shape, (std::vector<std::int64_t>{2, 3})) << headers[i];
  }
}

TEST_F(NpyTest, RejectsMissingFileAndDirectory) {
  expect_rejected(path("absent.npy"), {"no such file"});
  fs::create_directories(path("adir"));
  expect_rejected(path("adir"), {"not a regular file"});
}

TEST_F(NpyTest, RejectsFilesThatAreNotNpy) {
  expect_rejected(write_raw("empty.npy", ""), {"not a .npy file", "\\x93NUMPY"});
  expect_rejected(write_raw("short.npy", "\x93NUM"), {"not a .npy file"});
  expect_rejected(write_raw("text.npy", "q,k,v\n1,2,3\n4,5,6\n"), {"not a .npy file"});
  std::string wrong_magic = npy_bytes(1, f4_header("(1,)"), float_bytes({1.0f}));
  wrong_magic[1] = 'n';
  expect_rejected(write_raw("magic.npy", wrong_magic), {"not a .npy file"});
}

TEST_F(NpyTest, RejectsUnsupportedVersions) {
  const std::string data = float_bytes({1.0f});
  expect_rejected(write_raw("v4.npy", npy_bytes(4, f4_header("(1,)"), data)),
                  {"version 4.0", "expected 1.0, 2.0 or 3.0"});
  std::string minor = npy_bytes(1, f4_header("(1,)"), data);
  minor[7] = 1;
  expect_rejected(write_raw("v11.npy", minor), {"version 1.1"});
  expect_rejected(write_raw("v0.npy", npy_bytes(0, f4_header("(1,)"), data)), {"version 0.0"});
}

TEST_F(NpyTest, RejectsTruncatedOrOversizedHeader) {
  const std::string full = npy_bytes(1, f4_header("(1,)"), "");
  expect_rejected(write_raw("cut_header.npy", full.substr(0, 40)), {"truncated .npy header"});
  expect_rejected(write_raw("cut_v2.npy", std::string("\x93NUMPY\x02\x00\x10\x00\x00", 11)),
                  {"truncated .npy header"});
  // Version 2.0 with a 4 GiB header length: refused before anything is allocated.
  std::string huge = std::string("\x93NUMPY\x02\x00", 8) + std::string("\xff\xff\xff\xff", 4);
  expect_rejected(write_raw("huge_header.npy", huge + "{}"), {"header claims"});
}

TEST_F(NpyTest, RejectsHeadersThatDoNotParse) {
  const std::string data = float_bytes({1.0f, 2.0f});
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"garbage", "not a dict at all"},
      {"unterminated", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,"},
      {"missing_shape", "{'descr': '<f4', 'fortran_order': False, }"},
      {"missing_order", "{'descr': '<f4', 'shape': (2,), }"},
      {"unknown_key", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}"},
      {"duplicate", "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}"},
      {"bad_bool", "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }"},
      {"not_tuple", "{'descr': '<f4', 'fortran_order': False, 'shape': (2), }"},
      {"float_dim", "{'descr': '<f4', 'fortran_order': False, 'shape': (2.0,), }"},
      {"list_shape", "{'descr': '<f4', 'fortran_order': False, 'shape': [2], }"},
      {"after_brace", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x"},
      {"unquoted", "{descr: '<f4', 'fortran_order': False, 'shape': (2,), }"},
      {"escape", "{'descr': '<f\\4', 'fortran_order': False, 'shape': (2,), }"},
      {"binary", std::string("{'descr': '<f4'\0\xff, 'fortran_order': False}", 42)},
  };
  for (const auto& [name, header] : cases) {
    SCOPED_TRACE(name);
    expect_rejected(write_raw(name + ".npy", npy_bytes(1, header, data)),
                    {"header does not parse"});
  }
}

TEST_F(NpyTest, RejectsNegativeAndOverflowingShapes) {
  const std::string data = float_bytes({1.0f});
  expect_rejected(write_raw("neg.npy", npy_bytes(1, f4_header("(-1, 1)"), data)),
                  {"negative", "must be >= 0"});
  expect_rejected(
      write_raw("digits.npy", npy_bytes(1, f4_header("(99999999999999999999999,)"), data)),
      {"overflows"});
  expect_rejected(
      write_raw("product.npy", npy_bytes(1, f4_header("(4294967296, 4294967296)"), data)),
      {"too large"});
  // A product that fits in 64 bits but not in the file is an ordinary truncation.
  expect_rejected(write_raw("big.npy", npy_bytes(1, f4_header("(1048576, 1048576)"), data)),
                  {"truncated", "4398046511104 bytes"});
}

TEST_F(NpyTest, RejectsOtherDtypes) {
  const std::string data = float_bytes({1.0f, 2.0f});
  const std::vector<std::pair<std::string, std::string>> cases = {
      {">f4", "big-endian float32"},
      {"<f8", "little-endian float64"},
      {"|u1", "uint8"},
      {"<i4", "little-endian int32"},
      {"|b1", "bool"},
      {">f2", "big-endian float16"},
      {"=f4", "native-endian float32"},
      {"<U4", "a unicode string"},
      {"zzz", "an unknown type"},
  };
  for (const auto& [descr, description] : cases) {
    SCOPED_TRACE(descr);
    const std::string header =
        "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (2,), }";
    expect_rejected(write_raw("dtype.npy", npy_bytes(1, header, data)),
                    {"dtype '" + descr + "' (" + description + ") is not supported",
                     "expected '<f4' (little-endian float32)"});
  }
  const std::string structured =
      "{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (2,), }";
  expect_rejected(write_raw("structured.npy", npy_bytes(1, structured, data)),
                  {"structured dtypes are not supported", "'<f4'"});
}

// float16 files are widened to float32 on load, exactly: normal values, the largest finite
// half, a denormal, and a value that is not a short decimal. An infinite half is refused as an
// infinite float would be.
TEST_F(NpyTest, ReadsFloat16ConvertingExactly) {
  const std::vector<std::uint16_t> halves = {0x3C00, 0xC000, 0x3800, 0x7BFF,
                                             0x0001, 0x3555, 0x8000};
  const std::vector<float> expected = {1.0f, -2.0f, 0.5f, 65504.0f, 0x1p-24f, 0x1.554p-2f, -0.0f};
  std::string data;
  for (std::uint16_t h : halves) {
    data += static_cast<char>(h & 0xff);
    data += static_cast<char>(h >> 8);
  }
  const std::string header = "{'descr': '<f2', 'fortran_order': False, 'shape': (7,), }";
  const NpyArray a = read_npy_f32(write_raw("half.npy", npy_bytes(1, header, data)));
  ASSERT_EQ(a.data.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(a.data[i], expected[i]) << i;
    EXPECT_EQ(std::signbit(a.data[i]), std::signbit(expected[i])) << i;
  }
  std::string infinite = data;
  infinite[2] = '\x00';
  infinite[3] = '\x7c';  // element 1 becomes +inf
  expect_rejected(write_raw("half_inf.npy", npy_bytes(1, header, infinite)),
                  {"flat index 1", "infinite"});
  // Truncated float16 data is named as such.
  expect_rejected(write_raw("half_short.npy", npy_bytes(1, header, data.substr(0, 6))),
                  {"truncated", "14 bytes of float16"});
}

TEST_F(NpyTest, RejectsFortranOrder) {
  const std::string header = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 1), }";
  expect_rejected(write_raw("fortran.npy", npy_bytes(1, header, float_bytes({1.0f, 2.0f}))),
                  {"fortran_order is True", "C order"});
}

TEST_F(NpyTest, RejectsTruncatedData) {
  const std::string data = float_bytes(iota_values(12));
  expect_rejected(write_raw("cut.npy", npy_bytes(1, f4_header("(3, 4)"), data.substr(0, 47))),
                  {"truncated", "(3, 4)", "needs 48 bytes", "holds 47"});
  expect_rejected(write_raw("nodata.npy", npy_bytes(1, f4_header("(3, 4)"), "")),
                  {"truncated", "holds 0"});
}

TEST_F(NpyTest, RejectsTrailingBytes) {
  const std::string data = float_bytes(iota_values(12)) + "junk";
  expect_rejected(write_raw("trailing.npy", npy_bytes(1, f4_header("(3, 4)"), data)),
                  {"4 unexpected bytes after the data", "needs exactly 48 bytes"});
}

TEST_F(NpyTest, RejectsNanAndInfinityNamingTheIndex) {
  std::vector<float> values = iota_values(12);
  values[7] = std::numeric_limits<float>::quiet_NaN();
  values[9] = std::numeric_limits<float>::infinity();
  expect_rejected(write_raw("nan.npy", npy_bytes(1, f4_header("(3, 4)"), float_bytes(values))),
                  {"flat index 7", "NaN", "must be finite"});
  values[7] = 0.0f;
  expect_rejected(write_raw("inf.npy", npy_bytes(1, f4_header("(3, 4)"), float_bytes(values))),
                  {"flat index 9", "infinite"});
  values[9] = -std::numeric_limits<float>::infinity();
  expect_rejected(write_raw("ninf.npy", npy_bytes(1, f4_header("(3, 4)"), float_bytes(values))),
                  {"flat index 9", "infinite"});
}

// Random corruptions of a valid file: the reader must either accept the file or reject it with
// std::invalid_argument, never crash, hang or throw anything else.
TEST_F(NpyTest, SurvivesRandomCorruption) {
  const std::string valid = npy_bytes(1, f4_header("(4, 4)"), float_bytes(iota_values(16)));
  std::mt19937 rng(12345);
  const std::string p = path("fuzz.npy");
  int accepted = 0;
  for (int trial = 0; trial < 400; ++trial) {
    std::string bytes = valid;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = rng() % bytes.size();
      switch (rng() % 3) {
        case 0:
          bytes[at] = static_cast<char>(rng() & 0xff);
          break;
        case 1:
          bytes.resize(at);
          break;
        default:
          bytes.insert(at, 1, static_cast<char>(rng() & 0xff));
          break;
      }
      if (bytes.empty()) break;
    }
    write_raw("fuzz.npy", bytes);
    try {
      const NpyArray a = read_npy_f32(p);
      std::size_t n = 1;
      for (auto d : a.shape) n *= static_cast<std::size_t>(d);
      EXPECT_EQ(a.data.size(), n);
      ++accepted;
    } catch (const std::invalid_argument&) {
    }
  }
  EXPECT_LT(accepted, 400);
}

}  // namespace
}  // namespace attn::harness
