#include "harness/io/npy.hpp"

#include "harness/io/half_float.hpp"

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string_view>

// The .npy format (NumPy's numpy/lib/format.py): the magic "\x93NUMPY", a major and a minor
// version byte, the header length (little-endian uint16 in 1.0, uint32 in 2.0 and 3.0), then
// the header, a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (4096, 64), }
// padded with spaces and ended by '\n', then the raw data.

// The data is copied to and from memory as is; a big-endian host would need byte swaps.
static_assert(std::endian::native == std::endian::little, "the .npy code assumes little-endian");

namespace attn::harness {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr std::size_t kMaxHeaderBytes = 1 << 20;  // NumPy itself refuses headers over 10000

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::invalid_argument(path + ": " + what);
}

// The C-order multi-index of flat index `flat` in `shape`, e.g. "(2, 17)".
std::string position_string(const std::vector<std::int64_t>& shape, std::size_t flat) {
  std::vector<std::int64_t> index(shape.size());
  auto rest = static_cast<std::int64_t>(flat);
  for (std::size_t d = shape.size(); d-- > 0;) {
    index[d] = rest % shape[d];
    rest /= shape[d];
  }
  return shape_string(index);
}

// A readable name for a NumPy type string such as '>f4', for error messages.
std::string describe_dtype(std::string_view descr) {
  if (descr.size() < 3) return "an unknown type";
  std::string order;
  switch (descr[0]) {
    case '<':
      order = "little-endian ";
      break;
    case '>':
      order = "big-endian ";
      break;
    case '=':
      order = "native-endian ";
      break;
    case '|':
      order = "";
      break;
    default:
      return "an unknown type";
  }
  const std::string_view size = descr.substr(2);
  for (char c : size) {
    if (c < '0' || c > '9') return "an unknown type";
  }
  std::string kind;
  int bits_per_unit = 8;
  switch (descr[1]) {
    case 'f':
      kind = "float";
      break;
    case 'i':
      kind = "int";
      break;
    case 'u':
      kind = "uint";
      break;
    case 'c':
      kind = "complex";
      break;
    case 'b':
      return "bool";
    case 'S':
    case 'a':
      return "a byte string";
    case 'U':
      return "a unicode string";
    case 'O':
      return "a Python object";
    case 'M':
    case 'm':
      return "a date or time";
    default:
      return "an unknown type";
  }
  if (size.size() > 3) return "an unknown type";
  return order + kind + std::to_string(std::stoi(std::string(size)) * bits_per_unit);
}

// A strict parser of the header's dict literal: string keys; string, bool and int-tuple values.
class HeaderParser {
 public:
  HeaderParser(const std::string& path, std::string_view text) : path_(path), text_(text) {}

  struct Header {
    std::string descr;
    bool fortran_order = false;
    std::vector<std::int64_t> shape;
  };

  Header parse() {
    Header header;
    bool has_descr = false, has_order = false, has_shape = false;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = parse_string("a key");
      expect(':');
      if (key == "descr") {
        if (has_descr) error("'descr' appears twice");
        skip_space();
        if (peek() != '\'' && peek() != '"') {
          error(
              "'descr' is not a type string (structured dtypes are not supported); expected "
              "'<f4' (little-endian float32)");
        }
        header.descr = parse_string("the 'descr' value");
        has_descr = true;
      } else if (key == "fortran_order") {
        if (has_order) error("'fortran_order' appears twice");
        header.fortran_order = parse_bool();
        has_order = true;
      } else if (key == "shape") {
        if (has_shape) error("'shape' appears twice");
        header.shape = parse_shape();
        has_shape = true;
      } else {
        error("unexpected key '" + key + "'; allowed: 'descr', 'fortran_order', 'shape'");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() != '}') {
        error("expected ',' or '}'");
      }
    }
    ++pos_;  // '}'
    skip_space();
    if (pos_ != text_.size()) error("unexpected text after the closing '}'");
    if (!has_descr || !has_order || !has_shape) {
      error("the header must have the keys 'descr', 'fortran_order' and 'shape'");
    }
    return header;
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    fail(path_, "the .npy header does not parse (" + what + ", at byte " + std::to_string(pos_) +
                    " of the header " + printable_header() +
                    "); expected a dict such as {'descr': '<f4', 'fortran_order': False, "
                    "'shape': (4096, 64), }");
  }

  std::string printable_header() const {
    std::string s = "\"";
    for (char c : text_.substr(0, 200)) {
      const auto u = static_cast<unsigned char>(c);
      if (u >= 0x20 && u < 0x7f) {
        s += c;
      } else if (c == '\n') {
        s += "\\n";
      } else {
        s += '?';
      }
    }
    return s + (text_.size() > 200 ? "...\"" : "\"");
  }

  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  void expect(char c) {
    skip_space();
    if (peek() != c) error(std::string("expected '") + c + "'");
    ++pos_;
  }

  std::string parse_string(const char* what) {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') error(std::string("expected a quoted string for ") + what);
    ++pos_;
    std::string s;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\') error("escape sequences are not supported");
      s += text_[pos_++];
    }
    if (pos_ == text_.size()) error("unterminated string");
    ++pos_;
    return s;
  }

  bool parse_bool() {
    skip_space();
    if (text_.substr(pos_).starts_with("True")) {
      pos_ += 4;
      return true;
    }
    if (text_.substr(pos_).starts_with("False")) {
      pos_ += 5;
      return false;
    }
    error("expected True or False for 'fortran_order'");
  }

  std::int64_t parse_dimension() {
    skip_space();
    if (peek() == '-') error("a dimension is negative; dimensions must be >= 0");
    if (peek() < '0' || peek() > '9') error("expected a non-negative integer dimension");
    std::int64_t value = 0;
    while (peek() >= '0' && peek() <= '9') {
      const int digit = peek() - '0';
      if (value > (std::numeric_limits<std::int64_t>::max() - digit) / 10) {
        error("a dimension overflows 64-bit integers");
      }
      value = value * 10 + digit;
      ++pos_;
    }
    if (peek() == 'L') ++pos_;  // Python 2 long literal, as old NumPy wrote
    return value;
  }

  std::vector<std::int64_t> parse_shape() {
    expect('(');
    std::vector<std::int64_t> shape;
    skip_space();
    if (peek() == ')') {
      ++pos_;
      return shape;
    }
    while (true) {
      shape.push_back(parse_dimension());
      if (shape.size() > 64) error("more than 64 dimensions");
      skip_space();
      if (peek() == ')') {
        // "(5)" is the integer 5 in Python, not a tuple; NumPy writes "(5,)".
        if (shape.size() == 1) error("a one-dimensional shape must be written (n,)");
        ++pos_;
        break;
      }
      if (peek() != ',') error("expected ',' or ')' in 'shape'");
      ++pos_;
      skip_space();
      if (peek() == ')') {
        ++pos_;
        break;
      }
    }
    return shape;
  }

  const std::string& path_;
  std::string_view text_;
  std::size_t pos_ = 0;
};

std::uint32_t little_endian(const unsigned char* bytes, std::size_t count) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < count; ++i) value |= static_cast<std::uint32_t>(bytes[i]) << (8 * i);
  return value;
}

bool read_exactly(std::FILE* f, void* out, std::size_t bytes) {
  return std::fread(out, 1, bytes, f) == bytes;
}

std::string errno_text() { return std::strerror(errno); }

// The header a writer produces: dict, spaces, '\n', with the preamble a multiple of 64 bytes.
std::string make_header(std::string_view descr, std::span<const std::int64_t> shape) {
  std::string dims = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) dims += ", ";
    dims += std::to_string(shape[i]);
  }
  dims += shape.size() == 1 ? ",)" : ")";
  std::string header =
      "{'descr': '" + std::string(descr) + "', 'fortran_order': False, 'shape': " + dims + ", }";
  const std::size_t preamble = kMagic.size() + 2 + 2;  // magic, version, uint16 length
  const std::size_t total = preamble + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  return header;
}

void write_npy(const std::string& path, std::string_view descr, std::span<const std::int64_t> shape,
               const void* data, std::size_t count, std::size_t item_size) {
  std::int64_t elements = 1;
  for (std::int64_t dim : shape) {
    if (dim < 0) throw std::invalid_argument(path + ": negative dimension in the shape to write");
    elements = checked_product(elements, dim, "npy shape");
  }
  if (static_cast<std::uint64_t>(elements) != count) {
    throw std::invalid_argument(path + ": the shape holds " + std::to_string(elements) +
                                " values but " + std::to_string(count) + " were given");
  }
  const std::string header = make_header(descr, shape);
  if (header.size() > 0xffff) throw std::invalid_argument(path + ": shape too long for .npy 1.0");

  File file(std::fopen(path.c_str(), "wb"));
  if (!file) throw std::runtime_error(path + ": cannot open for writing: " + errno_text());
  const unsigned char preamble[] = {0x93,
                                    'N',
                                    'U',
                                    'M',
                                    'P',
                                    'Y',
                                    1,
                                    0,
                                    static_cast<unsigned char>(header.size() & 0xff),
                                    static_cast<unsigned char>(header.size() >> 8)};
  bool ok = std::fwrite(preamble, 1, sizeof preamble, file.get()) == sizeof preamble &&
            std::fwrite(header.data(), 1, header.size(), file.get()) == header.size();
  const std::size_t bytes = count * item_size;
  if (ok && bytes > 0) ok = std::fwrite(data, 1, bytes, file.get()) == bytes;
  const int saved_errno = errno;
  // fclose flushes, so a full disk may only show here.
  const bool closed = std::fclose(file.release()) == 0;
  if (!ok || !closed) {
    const std::string reason = std::strerror(ok ? errno : saved_errno);
    // Do not leave a truncated file behind (but never remove a device such as /dev/full).
    std::error_code ignored;
    if (std::filesystem::is_regular_file(path, ignored)) std::filesystem::remove(path, ignored);
    throw std::runtime_error(path + ": writing the .npy file failed: " + reason);
  }
}

}  // namespace

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + (shape.size() == 1 ? ",)" : ")");
}

NpyArray read_npy_f32(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) fail(path, "no such file (expected a .npy file)");
  if (!std::filesystem::is_regular_file(status)) fail(path, "not a regular file");
  const std::uintmax_t file_size = std::filesystem::file_size(path, ec);
  if (ec) fail(path, "cannot read the file size: " + ec.message());

  File file(std::fopen(path.c_str(), "rb"));
  if (!file) fail(path, "cannot open: " + errno_text());

  unsigned char preamble[12];
  if (file_size < 10 || !read_exactly(file.get(), preamble, 10) ||
      std::memcmp(preamble, kMagic.data(), kMagic.size()) != 0) {
    fail(path, "not a .npy file (it does not start with the magic \"\\x93NUMPY\")");
  }
  const int major = preamble[6];
  const int minor = preamble[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0) {
    fail(path, ".npy format version " + std::to_string(major) + "." + std::to_string(minor) +
                   " is not supported; expected 1.0, 2.0 or 3.0");
  }
  std::size_t preamble_size = 10;
  std::uint32_t header_size = little_endian(preamble + 8, 2);
  if (major >= 2) {
    if (!read_exactly(file.get(), preamble + 10, 2)) fail(path, "truncated .npy header");
    preamble_size = 12;
    header_size = little_endian(preamble + 8, 4);
  }
  if (header_size > kMaxHeaderBytes) {
    fail(path, "the .npy header claims " + std::to_string(header_size) + " bytes; at most " +
                   std::to_string(kMaxHeaderBytes) + " are allowed");
  }
  if (header_size > file_size - preamble_size) {
    fail(path, "truncated .npy header: it claims " + std::to_string(header_size) +
                   " bytes but the file has " + std::to_string(file_size - preamble_size) +
                   " after the preamble");
  }
  std::string header_text(header_size, '\0');
  if (!read_exactly(file.get(), header_text.data(), header_size)) {
    fail(path, "cannot read the .npy header: " + errno_text());
  }
  const auto header = HeaderParser(path, header_text).parse();

  // float16 is widened on load (exactly); bfloat16 has no standard NumPy dtype, so bf16 data
  // comes as float32 (its values are then exactly bf16's) and --dtype bf16 keeps them as they are.
  const bool half = header.descr == "<f2";
  if (header.descr != "<f4" && !half) {
    fail(path, "dtype '" + header.descr + "' (" + describe_dtype(header.descr) +
                   ") is not supported; expected '<f4' (little-endian float32) or '<f2' "
                   "(little-endian float16, converted on load)");
  }
  const std::int64_t item = half ? 2 : 4;
  if (header.fortran_order) {
    fail(path,
         "fortran_order is True (column-major data) and is not supported; expected C "
         "order (fortran_order False), e.g. numpy.ascontiguousarray");
  }
  std::int64_t elements = 1;
  for (std::int64_t dim : header.shape) {
    if (dim != 0 && elements > std::numeric_limits<std::int64_t>::max() / 4 / dim) {  // fp32 copy
      fail(path, "shape " + shape_string(header.shape) + " is too large (its byte size overflows)");
    }
    elements *= dim;
  }
  const std::uintmax_t needed = static_cast<std::uintmax_t>(elements * item);
  const std::uintmax_t available = file_size - preamble_size - header_size;
  if (available < needed) {
    fail(path, "truncated: shape " + shape_string(header.shape) + " needs " +
                   std::to_string(needed) + " bytes of " + (half ? "float16" : "float32") +
                   " data but the file holds " + std::to_string(available));
  }
  if (available > needed) {
    fail(path, std::to_string(available - needed) + " unexpected bytes after the data: shape " +
                   shape_string(header.shape) + " needs exactly " + std::to_string(needed) +
                   " bytes");
  }

  NpyArray array;
  array.shape = header.shape;
  array.data = AlignedBuffer<float>(static_cast<std::size_t>(elements));
  if (half) {
    AlignedBuffer<std::uint16_t> raw(static_cast<std::size_t>(elements));
    if (needed > 0 && !read_exactly(file.get(), raw.data(), static_cast<std::size_t>(needed)))
      fail(path, "cannot read the data: " + errno_text());
    for (std::size_t i = 0; i < raw.size(); ++i) array.data[i] = half_to_float(raw[i]);
  } else if (needed > 0 &&
             !read_exactly(file.get(), array.data.data(), static_cast<std::size_t>(needed))) {
    fail(path, "cannot read the data: " + errno_text());
  }
  for (std::size_t i = 0; i < array.data.size(); ++i) {
    if (!std::isfinite(array.data[i])) {
      fail(path, "value at flat index " + std::to_string(i) + " (position " +
                     position_string(header.shape, i) + ") is " +
                     (std::isnan(array.data[i]) ? "NaN" : "infinite") +
                     "; every value must be finite");
    }
  }
  return array;
}

void write_npy_f32(const std::string& path, std::span<const std::int64_t> shape,
                   std::span<const float> data) {
  write_npy(path, "<f4", shape, data.data(), data.size(), sizeof(float));
}

void write_npy_u8(const std::string& path, std::span<const std::int64_t> shape,
                  std::span<const std::uint8_t> data) {
  write_npy(path, "|u1", shape, data.data(), data.size(), 1);
}

}  // namespace attn::harness
