#include "harness/csv.hpp"

// The CSV parser library's bounded strncpy of file names trips -Wstringop-truncation.
#pragma GCC diagnostic ignored "-Wstringop-truncation"

#include <fcntl.h>
#include <libfccp/csv.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <tuple>

namespace attn::harness {
namespace {

std::string format_double(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", value);
  return buf;
}

template <class T>
std::string format_optional(const std::optional<T>& value) {
  if (!value) return "";
  if constexpr (std::is_floating_point_v<T>) {
    return format_double(*value);
  } else {
    return std::to_string(*value);
  }
}

std::string format_float_exact(float value) {
  char buf[32];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, value);  // shortest round trip
  return std::string(buf, ptr);
}

template <class T>
T parse_number(const std::string& text, const char* column) {
  T value{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size())
    throw std::invalid_argument(std::string("column '") + column + "': '" + text +
                                "' is not a number");
  return value;
}

template <class T>
std::optional<T> parse_optional(const std::string& text, const char* column) {
  if (text.empty()) return std::nullopt;
  return parse_number<T>(text, column);
}

bool parse_bool(const std::string& text, const char* column) {
  if (text == "true") return true;
  if (text == "false") return false;
  throw std::invalid_argument(std::string("column '") + column + "': '" + text +
                              "' is not true or false");
}

// Quotes a field when it holds a separator or quote; newlines cannot survive a line-based
// reader, so they become spaces.
std::string escape(std::string field) {
  for (char& c : field)
    if (c == '\n' || c == '\r') c = ' ';
  if (field.find_first_of(",\"") == std::string::npos) return field;
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

struct Column {
  const char* name;
  std::function<std::string(const ResultRow&)> get;
  std::function<void(ResultRow&, const std::string&)> set;
};

#define ATTN_TEXT_COLUMN(field)                                    \
  Column {                                                         \
    #field, [](const ResultRow& r) { return r.field; },            \
        [](ResultRow& r, const std::string& s) { r.field = s; }    \
  }
#define ATTN_NUMBER_COLUMN(field)                                                     \
  Column {                                                                            \
    #field, [](const ResultRow& r) { return std::to_string(r.field); },               \
        [](ResultRow& r, const std::string& s) {                                      \
          r.field = parse_number<decltype(r.field)>(s, #field);                       \
        }                                                                             \
  }
#define ATTN_OPTIONAL_COLUMN(field)                                                        \
  Column {                                                                                 \
    #field, [](const ResultRow& r) { return format_optional(r.field); },                   \
        [](ResultRow& r, const std::string& s) {                                           \
          r.field = parse_optional<typename decltype(r.field)::value_type>(s, #field);     \
        }                                                                                  \
  }
#define ATTN_BOOL_COLUMN(field)                                                             \
  Column {                                                                                  \
    #field, [](const ResultRow& r) { return std::string(r.field ? "true" : "false"); },     \
        [](ResultRow& r, const std::string& s) { r.field = parse_bool(s, #field); }         \
  }
#define ATTN_CONTEXT_COLUMN(field)                                          \
  Column {                                                                  \
    #field, [](const ResultRow& r) { return r.context.field; },             \
        [](ResultRow& r, const std::string& s) { r.context.field = s; }     \
  }

constexpr std::size_t kColumnCount = 34;

const std::array<Column, kColumnCount>& columns() {
  static const std::array<Column, kColumnCount> table = {
      ATTN_TEXT_COLUMN(variant),
      ATTN_TEXT_COLUMN(params),
      ATTN_NUMBER_COLUMN(batch),
      ATTN_NUMBER_COLUMN(heads),
      ATTN_NUMBER_COLUMN(seq_len),
      ATTN_NUMBER_COLUMN(head_dim),
      ATTN_BOOL_COLUMN(causal),
      ATTN_BOOL_COLUMN(shared_qk),
      ATTN_TEXT_COLUMN(input),
      ATTN_NUMBER_COLUMN(seed),
      Column{"scale", [](const ResultRow& r) { return format_float_exact(r.scale); },
             [](ResultRow& r, const std::string& s) { r.scale = parse_number<float>(s, "scale"); }},
      ATTN_NUMBER_COLUMN(threads),
      ATTN_OPTIONAL_COLUMN(reps),
      ATTN_OPTIONAL_COLUMN(time_ms),
      ATTN_OPTIONAL_COLUMN(time_ms_min),
      ATTN_OPTIONAL_COLUMN(time_ms_max),
      ATTN_OPTIONAL_COLUMN(pairs),
      ATTN_OPTIONAL_COLUMN(gflops),
      ATTN_OPTIONAL_COLUMN(peak_bytes),
      ATTN_OPTIONAL_COLUMN(rss_delta_bytes),
      ATTN_OPTIONAL_COLUMN(predicted_bytes),
      ATTN_OPTIONAL_COLUMN(rel_err),
      ATTN_OPTIONAL_COLUMN(max_abs_err),
      ATTN_OPTIONAL_COLUMN(cos_sim_min),
      ATTN_OPTIONAL_COLUMN(mass_recall),
      ATTN_OPTIONAL_COLUMN(accuracy_rows),
      ATTN_TEXT_COLUMN(status),
      ATTN_TEXT_COLUMN(message),
      ATTN_CONTEXT_COLUMN(git_revision),
      ATTN_CONTEXT_COLUMN(cpu),
      ATTN_CONTEXT_COLUMN(blas_core),
      ATTN_CONTEXT_COLUMN(compiler),
      ATTN_CONTEXT_COLUMN(build_type),
      ATTN_TEXT_COLUMN(timestamp),
  };
  return table;
}

#undef ATTN_TEXT_COLUMN
#undef ATTN_NUMBER_COLUMN
#undef ATTN_OPTIONAL_COLUMN
#undef ATTN_BOOL_COLUMN
#undef ATTN_CONTEXT_COLUMN

std::string first_line_of(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

const std::vector<std::string>& csv_columns() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const Column& c : columns()) out.emplace_back(c.name);
    return out;
  }();
  return names;
}

std::string csv_header_line() {
  std::string line;
  for (const Column& c : columns()) line += (line.empty() ? "" : ",") + std::string(c.name);
  return line;
}

std::string csv_line(const ResultRow& row) {
  std::string line;
  for (std::size_t i = 0; i < kColumnCount; ++i) {
    if (i) line += ',';
    line += escape(columns()[i].get(row));
  }
  return line;
}

CsvWriter::CsvWriter(const std::string& path) : path_(path) {
  struct stat st {};
  const bool has_content = ::stat(path.c_str(), &st) == 0 && st.st_size > 0;
  if (has_content) {
    const std::string header = first_line_of(path);
    if (header != csv_header_line())
      throw std::invalid_argument("results file '" + path +
                                  "' exists with another header; choose a new --out file or "
                                  "move the old one away");
  }
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw std::invalid_argument("cannot open results file '" + path +
                                "' for writing: " + std::strerror(errno));
  if (!has_content) write_line(csv_header_line());
}

CsvWriter::~CsvWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void CsvWriter::write(const ResultRow& row) { write_line(csv_line(row)); }

// One write() per line: a reader or a kill -9 never sees half a row (short of a full disk,
// which is reported as an error).
void CsvWriter::write_line(const std::string& line) {
  const std::string data = line + "\n";
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw std::runtime_error("writing to '" + path_ + "' failed: " + std::strerror(errno));
    done += static_cast<std::size_t>(n);
  }
  ::fdatasync(fd_);
}

std::vector<ResultRow> read_results_csv(const std::string& path) {
  std::vector<ResultRow> rows;
  try {
    io::CSVReader<kColumnCount, io::trim_chars<>, io::double_quote_escape<',', '"'>> reader(path);
    std::array<std::string, kColumnCount> names;
    for (std::size_t i = 0; i < kColumnCount; ++i) names[i] = columns()[i].name;
    std::apply([&](auto&... n) { reader.read_header(io::ignore_no_column, n...); }, names);
    std::array<std::string, kColumnCount> fields;
    while (std::apply([&](auto&... f) { return reader.read_row(f...); }, fields)) {
      ResultRow row;
      try {
        for (std::size_t i = 0; i < kColumnCount; ++i) columns()[i].set(row, fields[i]);
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument("'" + path + "' line " +
                                    std::to_string(reader.get_file_line()) + ": " + e.what());
      }
      rows.push_back(std::move(row));
    }
  } catch (const io::error::base& e) {
    throw std::invalid_argument(std::string("malformed results file: ") + e.what());
  }
  return rows;
}

}  // namespace attn::harness
