#include "harness/io/safetensors.hpp"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <set>
#include <stdexcept>

#include "harness/io/half_float.hpp"

// Data is copied from the file as is; a big-endian host would need byte swaps.
static_assert(std::endian::native == std::endian::little,
              "the .safetensors code assumes little-endian");

namespace attn::harness {
namespace {

// The format's own limit (safetensors refuses headers over 100 MB).
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
constexpr int kMaxDepth = 8;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::invalid_argument(path + ": " + what);
}

// A JSON value, as much of JSON as a safetensors header uses (all of it but nesting deeper than
// kMaxDepth). Numbers are kept as integers: headers hold only shapes and offsets.
struct Json {
  enum class Kind { kNull, kBool, kInteger, kString, kArray, kObject } kind = Kind::kNull;
  bool boolean = false;
  std::uint64_t integer = 0;
  bool negative = false;
  std::string string;
  std::vector<Json> items;
  // An object's members in order: names and values apart, since a pair holding the type being
  // defined is not allowed (vector of it is).
  std::vector<std::string> names;
  std::vector<Json> values;
};

class JsonParser {
 public:
  JsonParser(const std::string& path, std::string_view text) : path_(path), text_(text) {}

  Json parse_document() {
    Json value = parse_value(0);
    skip_space();
    if (at_ < text_.size()) error("unexpected text after the header's JSON object");
    return value;
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    fail(path_, "header JSON at byte " + std::to_string(at_) + ": " + what);
  }
  void skip_space() {
    while (at_ < text_.size() &&
           (text_[at_] == ' ' || text_[at_] == '\t' || text_[at_] == '\n' || text_[at_] == '\r'))
      ++at_;
  }
  char peek() {
    skip_space();
    if (at_ >= text_.size()) error("unexpected end of the header");
    return text_[at_];
  }
  void expect(char c) {
    if (peek() != c) error(std::string("expected '") + c + "'");
    ++at_;
  }
  bool take_word(std::string_view word) {
    if (text_.substr(at_, word.size()) != word) return false;
    at_ += word.size();
    return true;
  }

  Json parse_value(int depth) {
    if (depth > kMaxDepth) error("nested deeper than " + std::to_string(kMaxDepth) + " levels");
    Json value;
    const char c = peek();
    if (c == '{') {
      value.kind = Json::Kind::kObject;
      ++at_;
      if (peek() == '}') {
        ++at_;
        return value;
      }
      for (;;) {
        if (peek() != '"') error("expected a member name in quotes");
        std::string key = parse_string();
        expect(':');
        value.names.push_back(std::move(key));
        value.values.push_back(parse_value(depth + 1));
        if (peek() == ',') {
          ++at_;
          continue;
        }
        expect('}');
        return value;
      }
    }
    if (c == '[') {
      value.kind = Json::Kind::kArray;
      ++at_;
      if (peek() == ']') {
        ++at_;
        return value;
      }
      for (;;) {
        value.items.push_back(parse_value(depth + 1));
        if (peek() == ',') {
          ++at_;
          continue;
        }
        expect(']');
        return value;
      }
    }
    if (c == '"') {
      value.kind = Json::Kind::kString;
      value.string = parse_string();
      return value;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
    if (take_word("true") || take_word("false")) {
      value.kind = Json::Kind::kBool;
      value.boolean = text_.substr(at_ - 4, 4) == "true";
      return value;
    }
    if (take_word("null")) return value;
    error("expected a JSON value");
  }

  // Integers only; a fraction or exponent is refused (no header field needs one).
  Json parse_number() {
    Json value;
    value.kind = Json::Kind::kInteger;
    if (text_[at_] == '-') {
      value.negative = true;
      ++at_;
    }
    const std::size_t digits_start = at_;
    while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') {
      const auto digit = static_cast<std::uint64_t>(text_[at_] - '0');
      if (value.integer > (std::numeric_limits<std::uint64_t>::max() - digit) / 10)
        error("an integer larger than 2^64 - 1");
      value.integer = value.integer * 10 + digit;
      ++at_;
    }
    if (at_ == digits_start) error("expected digits");
    if (at_ < text_.size() && (text_[at_] == '.' || text_[at_] == 'e' || text_[at_] == 'E'))
      error("a non-integer number; shapes and offsets are integers");
    return value;
  }

  std::string parse_string() {
    ++at_;  // the opening quote
    std::string out;
    for (;;) {
      if (at_ >= text_.size()) error("unterminated string");
      const char c = text_[at_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) error("a control character inside a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_ >= text_.size()) error("unterminated string");
      const char e = text_[at_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u':
          append_utf8(out, parse_hex4());
          break;
        default:
          error(std::string("unknown escape '\\") + e + "'");
      }
    }
  }

  std::uint32_t parse_hex4() {
    if (at_ + 4 > text_.size()) error("a truncated \\u escape");
    std::uint32_t code = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[at_++];
      code <<= 4;
      if (h >= '0' && h <= '9')
        code |= static_cast<std::uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f')
        code |= static_cast<std::uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        code |= static_cast<std::uint32_t>(h - 'A' + 10);
      else
        error("a \\u escape with a non-hex digit");
    }
    return code;
  }

  // Surrogates are kept as their own code points: names in real headers are ASCII.
  static void append_utf8(std::string& out, std::uint32_t code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }

  const std::string& path_;
  std::string_view text_;
  std::size_t at_ = 0;
};

// Bytes per element of the dtypes safetensors defines; 0 for one it does not.
std::uint64_t element_bytes(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL" || dtype == "F8_E4M3" || dtype == "F8_E5M2")
    return 1;
  return 0;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

SafetensorsTensor read_entry(const std::string& path, const std::string& name, const Json& entry,
                             std::uint64_t data_start, std::uint64_t data_bytes) {
  const auto where = [&](const std::string& what) { fail(path, "tensor '" + name + "': " + what); };
  if (entry.kind != Json::Kind::kObject) where("its entry is not a JSON object");
  const Json *dtype = nullptr, *shape = nullptr, *offsets = nullptr;
  for (std::size_t m = 0; m < entry.names.size(); ++m) {
    const std::string& key = entry.names[m];
    const Json& value = entry.values[m];
    if (key == "dtype")
      dtype = &value;
    else if (key == "shape")
      shape = &value;
    else if (key == "data_offsets")
      offsets = &value;
  }
  if (!dtype || dtype->kind != Json::Kind::kString) where("needs \"dtype\" as a string");
  if (!shape || shape->kind != Json::Kind::kArray) where("needs \"shape\" as an array");
  if (!offsets || offsets->kind != Json::Kind::kArray || offsets->items.size() != 2)
    where("needs \"data_offsets\" as [begin, end]");
  SafetensorsTensor t;
  t.name = name;
  t.dtype = dtype->string;
  std::uint64_t elements = 1;
  for (const Json& dim : shape->items) {
    if (dim.kind != Json::Kind::kInteger || dim.negative ||
        dim.integer > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      where("\"shape\" must hold non-negative integers");
    t.shape.push_back(static_cast<std::int64_t>(dim.integer));
    if (dim.integer != 0 && elements > std::numeric_limits<std::uint64_t>::max() / 8 / dim.integer)
      where("shape " + shape_text(t.shape) + " is too large");
    elements *= dim.integer;
  }
  for (const Json& o : offsets->items) {
    if (o.kind != Json::Kind::kInteger || o.negative)
      where("\"data_offsets\" must be non-negative integers");
  }
  const std::uint64_t begin = offsets->items[0].integer, end = offsets->items[1].integer;
  if (begin > end || end > data_bytes)
    where("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
          "] lie outside the file's " + std::to_string(data_bytes) + " data bytes");
  t.offset = data_start + begin;
  t.bytes = end - begin;
  if (const std::uint64_t item = element_bytes(t.dtype); item != 0 && t.bytes != elements * item)
    where("shape " + shape_text(t.shape) + " of " + t.dtype + " needs " +
          std::to_string(elements * item) + " bytes but data_offsets span " +
          std::to_string(t.bytes));
  return t;
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

std::string errno_text() { return std::strerror(errno); }

}  // namespace

const SafetensorsTensor* SafetensorsFile::find(std::string_view name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

SafetensorsFile parse_safetensors_header(const std::string& path, std::string_view header,
                                         std::uint64_t file_size) {
  if (header.size() < 8 || file_size < 8)
    fail(path, "not a .safetensors file: shorter than its 8-byte header size");
  std::uint64_t size = 0;
  for (int i = 7; i >= 0; --i) size = (size << 8) | static_cast<unsigned char>(header[i]);
  if (size > kMaxHeaderBytes)
    fail(path, "the header claims " + std::to_string(size) + " bytes; at most " +
                   std::to_string(kMaxHeaderBytes) + " are allowed (not a .safetensors file?)");
  if (size > file_size - 8 || size > header.size() - 8)
    fail(path, "truncated: the header claims " + std::to_string(size) + " bytes but the file has " +
                   std::to_string(file_size - 8) + " after the size");
  const Json root = JsonParser(path, header.substr(8, size)).parse_document();
  if (root.kind != Json::Kind::kObject) fail(path, "the header is not a JSON object");
  SafetensorsFile file;
  file.path = path;
  const std::uint64_t data_start = 8 + size;
  std::set<std::string> names;
  for (std::size_t m = 0; m < root.names.size(); ++m) {
    const std::string& name = root.names[m];
    const Json& value = root.values[m];
    if (!names.insert(name).second) fail(path, "tensor '" + name + "' appears twice in the header");
    if (name == "__metadata__") {
      if (value.kind != Json::Kind::kObject) fail(path, "\"__metadata__\" is not a JSON object");
      for (std::size_t i = 0; i < value.names.size(); ++i) {
        const std::string& key = value.names[i];
        const Json& text = value.values[i];
        if (text.kind != Json::Kind::kString)
          fail(path, "\"__metadata__\" value '" + key + "' is not a string");
        file.metadata[key] = text.string;
      }
      continue;
    }
    file.tensors.push_back(read_entry(path, name, value, data_start, file_size - data_start));
  }
  return file;
}

SafetensorsFile read_safetensors_header(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    fail(path, "is a directory, not a .safetensors file");
  File file(std::fopen(path.c_str(), "rb"));
  if (!file) fail(path, "cannot open: " + errno_text());
  const auto file_size = std::filesystem::file_size(path, ec);
  if (ec) fail(path, "cannot read its size: " + ec.message());
  std::string header(8, '\0');
  if (file_size < 8 || std::fread(header.data(), 1, 8, file.get()) != 8)
    fail(path, "not a .safetensors file: shorter than its 8-byte header size");
  std::uint64_t size = 0;
  for (int i = 7; i >= 0; --i) size = (size << 8) | static_cast<unsigned char>(header[i]);
  if (size <= kMaxHeaderBytes && size <= file_size - 8) {
    header.resize(8 + size);
    if (std::fread(header.data() + 8, 1, size, file.get()) != size)
      fail(path, "cannot read the header: " + errno_text());
  }
  return parse_safetensors_header(path, header, file_size);
}

void read_safetensors_f32(const SafetensorsFile& file, const SafetensorsTensor& tensor,
                          std::int64_t first, std::span<float> out) {
  const auto where = [&](const std::string& what) {
    fail(file.path, "tensor '" + tensor.name + "': " + what);
  };
  const std::uint64_t item = element_bytes(tensor.dtype);
  if (tensor.dtype != "F32" && tensor.dtype != "F16" && tensor.dtype != "BF16")
    where("dtype " + tensor.dtype + " is not supported; expected F32, F16 or BF16");
  const std::uint64_t elements = tensor.bytes / item;
  if (first < 0 || static_cast<std::uint64_t>(first) + out.size() > elements)
    where("elements " + std::to_string(first) + " .. " +
          std::to_string(first + static_cast<std::int64_t>(out.size())) + " lie outside its " +
          std::to_string(elements));
  File f(std::fopen(file.path.c_str(), "rb"));
  if (!f) fail(file.path, "cannot open: " + errno_text());
  const std::uint64_t at = tensor.offset + static_cast<std::uint64_t>(first) * item;
  if (at > static_cast<std::uint64_t>(std::numeric_limits<long>::max()) ||
      std::fseek(f.get(), static_cast<long>(at), SEEK_SET) != 0)
    fail(file.path, "cannot seek to byte " + std::to_string(at) + ": " + errno_text());
  const std::size_t count = out.size();
  if (item == 4) {
    if (std::fread(out.data(), 4, count, f.get()) != count)
      where("truncated: cannot read its data (" + errno_text() + ")");
  } else {
    std::vector<std::uint16_t> raw(count);
    if (std::fread(raw.data(), 2, count, f.get()) != count)
      where("truncated: cannot read its data (" + errno_text() + ")");
    const bool brain = tensor.dtype == "BF16";
    for (std::size_t i = 0; i < count; ++i) {
      if (brain) {
        const std::uint32_t bits = static_cast<std::uint32_t>(raw[i]) << 16;
        std::memcpy(&out[i], &bits, sizeof(float));
      } else {
        out[i] = half_to_float(raw[i]);
      }
    }
  }
  for (std::size_t i = 0; i < count; ++i) {
    if (!std::isfinite(out[i]))
      where("value at flat index " + std::to_string(first + static_cast<std::int64_t>(i)) + " is " +
            (std::isnan(out[i]) ? "NaN" : "infinite") + "; every value must be finite");
  }
}

}  // namespace attn::harness
