#include "harness/io/csv.hpp"

// The CSV parser library's bounded strncpy of file names trips -Wstringop-truncation.
#pragma GCC diagnostic ignored "-Wstringop-truncation"

#include <fcntl.h>
#include <libfccp/csv.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <tuple>
#include <utility>

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

#define ATTN_TEXT_COLUMN(field)                                                                   \
  Column {                                                                                        \
#field, [](const ResultRow& r) { return r.field; }, [](ResultRow & r,                         \
                                                           const std::string& s) { r.field = s; } \
  }
#define ATTN_NUMBER_COLUMN(field)                                                   \
  Column {                                                                          \
#field, [](const ResultRow& r) { return std::to_string(r.field); },               \
        [](ResultRow& r, const std::string& s) {                                      \
          r.field = parse_number<decltype(r.field)>(s, #field);                       \
        } \
  }
#define ATTN_OPTIONAL_COLUMN(field)                                                      \
  Column {                                                                               \
#field, [](const ResultRow& r) { return format_optional(r.field); },                   \
        [](ResultRow& r, const std::string& s) {                                           \
          r.field = parse_optional<typename decltype(r.field)::value_type>(s, #field);     \
        } \
  }
#define ATTN_BOOL_COLUMN(field)                                                           \
  Column {                                                                                \
#field, [](const ResultRow& r) { return std::string(r.field ? "true" : "false"); },     \
        [](ResultRow& r, const std::string& s) { r.field = parse_bool(s, #field); } \
  }
#define ATTN_CONTEXT_COLUMN(field)                                                                 \
  Column {                                                                                         \
#field, [](const ResultRow& r) { return r.context.field; }, [](ResultRow & r,                  \
                                                                   const std::string&              \
                                                                       s) { r.context.field = s; } \
  }

constexpr std::size_t kColumnCount = 59;

const std::array<Column, kColumnCount>& columns() {
  static const std::array<Column, kColumnCount> table = {
      ATTN_TEXT_COLUMN(variant),
      ATTN_TEXT_COLUMN(params),
      ATTN_NUMBER_COLUMN(batch),
      ATTN_NUMBER_COLUMN(heads),
      ATTN_NUMBER_COLUMN(kv_heads),
      ATTN_NUMBER_COLUMN(seq_len),
      ATTN_NUMBER_COLUMN(query_len),
      ATTN_NUMBER_COLUMN(head_dim),
      ATTN_TEXT_COLUMN(dtype),
      ATTN_TEXT_COLUMN(kv_dtype),
      ATTN_BOOL_COLUMN(causal),
      ATTN_BOOL_COLUMN(shared_qk),
      ATTN_TEXT_COLUMN(input),
      ATTN_NUMBER_COLUMN(seed),
      Column{"scale", [](const ResultRow& r) { return format_float_exact(r.scale); },
             [](ResultRow& r, const std::string& s) { r.scale = parse_number<float>(s, "scale"); }},
      ATTN_NUMBER_COLUMN(threads),
      ATTN_NUMBER_COLUMN(decode_steps),
      ATTN_OPTIONAL_COLUMN(reps),
      ATTN_OPTIONAL_COLUMN(time_ms),
      ATTN_OPTIONAL_COLUMN(time_ms_min),
      ATTN_OPTIONAL_COLUMN(time_ms_max),
      ATTN_OPTIONAL_COLUMN(select_ms),
      ATTN_OPTIONAL_COLUMN(pairs),
      ATTN_OPTIONAL_COLUMN(gflops),
      ATTN_OPTIONAL_COLUMN(min_bytes),
      ATTN_OPTIONAL_COLUMN(kv_bytes_per_token),
      ATTN_OPTIONAL_COLUMN(peak_bytes),
      ATTN_OPTIONAL_COLUMN(rss_delta_bytes),
      ATTN_OPTIONAL_COLUMN(predicted_bytes),
      ATTN_OPTIONAL_COLUMN(rel_err),
      ATTN_OPTIONAL_COLUMN(rel_err_kernel),
      ATTN_OPTIONAL_COLUMN(max_abs_err),
      ATTN_OPTIONAL_COLUMN(cos_sim_min),
      ATTN_OPTIONAL_COLUMN(mass_recall),
      ATTN_OPTIONAL_COLUMN(accuracy_rows),
      ATTN_OPTIONAL_COLUMN(prefill_ms),
      ATTN_OPTIONAL_COLUMN(step_ms_p99),
      ATTN_OPTIONAL_COLUMN(cache_bytes),
      ATTN_OPTIONAL_COLUMN(rel_err_first),
      ATTN_OPTIONAL_COLUMN(rel_err_last),
      ATTN_OPTIONAL_COLUMN(mass_recall_first),
      ATTN_OPTIONAL_COLUMN(mass_recall_last),
      ATTN_TEXT_COLUMN(accuracy_by_step),
      ATTN_TEXT_COLUMN(status),
      ATTN_TEXT_COLUMN(message),
      ATTN_CONTEXT_COLUMN(git_revision),
      ATTN_CONTEXT_COLUMN(cpu),
      ATTN_CONTEXT_COLUMN(cpu_vendor),
      ATTN_CONTEXT_COLUMN(cpu_family_model),
      ATTN_CONTEXT_COLUMN(cpu_uarch),
      ATTN_CONTEXT_COLUMN(cpu_isa),
      ATTN_CONTEXT_COLUMN(blas_core),
      ATTN_TEXT_COLUMN(kernel),
      ATTN_CONTEXT_COLUMN(compiler),
      ATTN_CONTEXT_COLUMN(build_type),
      ATTN_TEXT_COLUMN(timestamp),
      ATTN_CONTEXT_COLUMN(host),
      ATTN_TEXT_COLUMN(shard),
      ATTN_TEXT_COLUMN(job_id),
  };
  return table;
}

// Columns added to the format after its first files were written, in groups. A header that is
// the suite's without some whole groups belongs to a file written before them: it is read with
// their defaults (serving: kv_heads = heads, query_len = seq_len, min_bytes empty; sharding
// and selection: empty; precision: dtype fp32, rel_err_kernel and kernel empty; CPU identity:
// empty, as nothing recorded it; KV-cache format: kv_dtype = dtype, bytes per token empty), and
// CsvWriter does not append to it (merge rewrites it with the current header).
struct AddedColumns {
  std::vector<const char*> names;
  const char* what;
};
const std::vector<AddedColumns>& added_columns() {
  static const std::vector<AddedColumns> groups = {
      {{"kv_heads", "query_len", "min_bytes"}, "the serving-shape columns"},
      {{"host", "shard", "job_id"}, "the sharding columns"},
      {{"select_ms"}, "the selection column"},
      {{"dtype", "rel_err_kernel", "kernel"}, "the precision columns"},
      {{"decode_steps", "prefill_ms", "step_ms_p99", "cache_bytes", "rel_err_first", "rel_err_last",
        "mass_recall_first", "mass_recall_last", "accuracy_by_step"},
       "the decode-session columns"},
      {{"cpu_vendor", "cpu_family_model", "cpu_uarch", "cpu_isa"}, "the CPU identity columns"},
      {{"kv_dtype", "kv_bytes_per_token"}, "the KV-cache format columns"},
  };
  return groups;
}

bool in_group(const AddedColumns& group, const char* name) {
  return std::any_of(group.names.begin(), group.names.end(),
                     [&](const char* c) { return std::strcmp(c, name) == 0; });
}

std::string join(const std::vector<std::string>& names) {
  std::string line;
  for (const std::string& name : names) line += (line.empty() ? "" : ",") + name;
  return line;
}

// An accepted header: the suite's columns without the groups whose bits are set in `missing`.
struct OlderHeader {
  unsigned missing = 0;
  std::vector<std::string> names;
  bool lacks(const char* column) const {
    for (std::size_t g = 0; g < added_columns().size(); ++g)
      if ((missing >> g & 1u) && in_group(added_columns()[g], column)) return true;
    return false;
  }
  bool lacks_group(std::size_t g) const { return missing >> g & 1u; }
};

// Every header of an older file (missing != 0), one per combination of absent groups.
const std::vector<OlderHeader>& older_headers() {
  static const std::vector<OlderHeader> headers = [] {
    std::vector<OlderHeader> out;
    for (unsigned missing = 1; missing < (1u << added_columns().size()); ++missing) {
      OlderHeader h{missing, {}};
      for (const Column& c : columns())
        if (!h.lacks(c.name)) h.names.emplace_back(c.name);
      out.push_back(std::move(h));
    }
    return out;
  }();
  return headers;
}

const OlderHeader* older_header_of(std::string_view line) {
  for (const OlderHeader& h : older_headers())
    if (line == join(h.names)) return &h;
  return nullptr;
}

// "the serving-shape columns (kv_heads, query_len, min_bytes)", for messages.
std::string missing_groups_text(const OlderHeader& h) {
  std::string text;
  for (std::size_t g = 0; g < added_columns().size(); ++g) {
    if (!h.lacks_group(g)) continue;
    std::string names;
    for (const char* n : added_columns()[g].names)
      names += (names.empty() ? "" : ", ") + std::string(n);
    text +=
        (text.empty() ? "" : " and ") + std::string(added_columns()[g].what) + " (" + names + ")";
  }
  return text;
}

#undef ATTN_TEXT_COLUMN
#undef ATTN_NUMBER_COLUMN
#undef ATTN_OPTIONAL_COLUMN
#undef ATTN_BOOL_COLUMN
#undef ATTN_CONTEXT_COLUMN

// Splits one CSV line into fields, undoing double-quote escapes. `unclosed_field` is set to the
// index of a field whose quote never closes, or -1.
std::vector<std::string> split_csv_line(const std::string& line, int& unclosed_field) {
  std::vector<std::string> fields(1);
  unclosed_field = -1;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c != '"') {
        fields.back() += c;
      } else if (i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  if (quoted) unclosed_field = static_cast<int>(fields.size()) - 1;
  return fields;
}

// `names` are the file's columns (the suite's, or those of a file from before the serving
// columns).
std::string column_label(std::size_t index, const std::vector<std::string>& names) {
  std::string label = "column " + std::to_string(index + 1);
  if (index < names.size()) label += " (" + names[index] + ")";
  return label;
}

// What separates a header line from the suite's, or "" when it is the same.
std::string header_difference(const std::string& line) {
  int unclosed = -1;
  const std::vector<std::string> got = split_csv_line(line, unclosed);
  const std::vector<std::string>& want = csv_columns();
  if (got == want) return "";
  if (std::none_of(got.begin(), got.end(), [&](const std::string& name) {
        return std::find(want.begin(), want.end(), name) != want.end();
      }))
    return "none of its columns is one of the suite's (expected '" + want[0] + "," + want[1] +
           ",...')";
  auto join_missing = [](const std::vector<std::string>& names,
                         const std::vector<std::string>& from) {
    std::string list;
    for (const std::string& name : names)
      if (std::find(from.begin(), from.end(), name) == from.end())
        list += (list.empty() ? "" : ", ") + (name.empty() ? "(an empty name)" : name);
    return list;
  };
  std::string difference;
  if (const std::string missing = join_missing(want, got); !missing.empty())
    difference += "missing " + missing;
  if (const std::string extra = join_missing(got, want); !extra.empty())
    difference += (difference.empty() ? "" : "; ") + std::string("unexpected ") + extra;
  if (!difference.empty()) return difference;
  for (std::size_t i = 0; i < std::min(got.size(), want.size()); ++i)
    if (got[i] != want[i])
      return "column " + std::to_string(i + 1) + " is '" + got[i] + "' where the suite has '" +
             want[i] + "'";
  return "it has " + std::to_string(got.size()) + " columns where the suite has " +
         std::to_string(want.size()) + " (a repeated column)";
}

// Explains why line `line_number` (1-based) of `text` does not have the header's columns.
std::string describe_malformed_line(std::string_view text, int line_number,
                                    const std::vector<std::string>& names) {
  const std::size_t count = names.size();
  std::string line;
  for (int i = 0; i < line_number && !text.empty(); ++i) {
    const std::size_t end = text.find('\n');
    line = std::string(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
  }
  int unclosed = -1;
  const std::vector<std::string> fields = split_csv_line(line, unclosed);
  if (unclosed >= 0)
    return column_label(static_cast<std::size_t>(unclosed), names) +
           ": a quoted field is not closed on its line";
  if (fields.size() == count) return "malformed row";
  if (fields.size() < count)
    return std::to_string(fields.size()) + " fields where the header has " + std::to_string(count) +
           "; " + column_label(fields.size(), names) + " and the ones after it are missing";
  return std::to_string(fields.size()) + " fields where the header has " + std::to_string(count) +
         "; " + column_label(count, names) +
         " and the ones after it are extra (an unquoted comma?)";
}

std::string_view without_cr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// Closes a descriptor unless released; keeps the constructor's error paths from leaking it.
struct FdGuard {
  int fd;
  ~FdGuard() {
    if (fd >= 0) ::close(fd);
  }
  int release() { return std::exchange(fd, -1); }
};

std::string read_all(int fd, const std::string& path) {
  std::string text;
  char buf[1 << 16];
  for (off_t offset = 0;;) {
    const ssize_t n = ::pread(fd, buf, sizeof buf, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      throw std::runtime_error("reading results file '" + path +
                               "' failed: " + std::strerror(errno));
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    offset += n;
  }
  return text;
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
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    throw std::invalid_argument("results file '" + path + "' is not a regular file");
  FdGuard fd{::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644)};
  if (fd.fd < 0)
    throw std::invalid_argument("cannot open results file '" + path +
                                "' for writing: " + std::strerror(errno));
  const std::string text = read_all(fd.fd, path);
  const std::string header = csv_header_line();
  const std::size_t first_end = text.find('\n');
  std::size_t keep = text.size();
  if (first_end == std::string::npos) {
    // No whole line: a header cut off by a kill as the file was created, or another file.
    if (!header.starts_with(text))
      throw std::invalid_argument("results file '" + path + "' exists with another header (" +
                                  header_difference(text) +
                                  "); choose a new --out file or move the old one away");
    keep = 0;
  } else {
    const std::string_view first = without_cr(std::string_view(text).substr(0, first_end));
    // Rows with the newer columns cannot go under an older header, and rewriting the user's
    // file in place is not this writer's business: merge converts it.
    if (const OlderHeader* older = older_header_of(first))
      throw std::invalid_argument(
          "results file '" + path + "' exists with another header (" +
          header_difference(std::string(first)) + "): it was written before " +
          missing_groups_text(*older) +
          "; it can still be read (compare, merge), and 'attnbench merge " + path +
          " --out NEW.csv' rewrites it with the current header, to append to NEW.csv");
    if (first != header)
      throw std::invalid_argument("results file '" + path + "' exists with another header (" +
                                  header_difference(std::string(first)) +
                                  "); choose a new --out file or move the old one away");
    keep = text.rfind('\n') + 1;
  }
  if (keep < text.size()) {
    if (::ftruncate(fd.fd, static_cast<off_t>(keep)) != 0)
      throw std::runtime_error("cannot cut the torn last line of '" + path +
                               "': " + std::strerror(errno));
    dropped_torn_bytes_ = text.size() - keep;
  }
  fd_ = fd.release();
  if (keep == 0) write_line(header);
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

std::vector<ResultRow> parse_results_csv(std::string_view text, const std::string& name,
                                         std::size_t* torn_tail_bytes) {
  // Every row ends with '\n' (one write() each): bytes after the last one are a torn row.
  const std::size_t last_newline = text.rfind('\n');
  const std::size_t whole = last_newline == std::string_view::npos ? 0 : last_newline + 1;
  if (torn_tail_bytes) *torn_tail_bytes = text.size() - whole;
  const std::string header = csv_header_line();
  auto torn_header = [&] {
    if (header.starts_with(text)) return true;
    return std::any_of(older_headers().begin(), older_headers().end(),
                       [&](const OlderHeader& h) { return join(h.names).starts_with(text); });
  };
  if (whole == 0) {
    // Empty, or a header torn at creation.
    if (torn_header()) return {};
    throw std::invalid_argument("results file '" + name + "' has another header (" +
                                header_difference(std::string(text)) +
                                "); expected an attnbench results CSV");
  }
  text = text.substr(0, whole);
  const std::string_view first = without_cr(text.substr(0, text.find('\n')));
  const OlderHeader* older = first == header ? nullptr : older_header_of(first);
  if (first != header && older == nullptr)
    throw std::invalid_argument("results file '" + name + "' has another header (" +
                                header_difference(std::string(first)) +
                                "); expected an attnbench results CSV");
  const std::vector<std::string>& file_columns = older ? older->names : csv_columns();

  std::vector<ResultRow> rows;
  try {
    io::CSVReader<kColumnCount, io::trim_chars<>, io::double_quote_escape<',', '"'>> reader(
        name, text.data(), text.data() + text.size());
    std::array<std::string, kColumnCount> names;
    for (std::size_t i = 0; i < kColumnCount; ++i) names[i] = columns()[i].name;
    // Added columns are the only ones an accepted header may lack (checked above).
    const io::ignore_column policy = older ? io::ignore_missing_column : io::ignore_no_column;
    std::apply([&](auto&... n) { reader.read_header(policy, n...); }, names);
    std::array<std::string, kColumnCount> fields;
    while (std::apply([&](auto&... f) { return reader.read_row(f...); }, fields)) {
      ResultRow row;
      try {
        for (std::size_t i = 0; i < kColumnCount; ++i)
          if (!older || !older->lacks(columns()[i].name)) columns()[i].set(row, fields[i]);
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument("results file '" + name + "' line " +
                                    std::to_string(reader.get_file_line()) + ": " + e.what());
      }
      if (older && older->lacks_group(0)) {  // before serving shapes: every point square
        row.kv_heads = row.heads;
        row.query_len = row.seq_len;
      }
      if (older && older->lacks("kv_dtype")) row.kv_dtype = row.dtype;  // unquantized caches
      rows.push_back(std::move(row));
    }
  } catch (const io::error::base& e) {
    const auto* at = dynamic_cast<const io::error::with_file_line*>(&e);
    if (at == nullptr || at->file_line <= 0)
      throw std::invalid_argument("malformed results file '" + name + "': " + e.what());
    std::string why = describe_malformed_line(text, at->file_line, file_columns);
    if (why == "malformed row") why = e.what();
    throw std::invalid_argument("results file '" + name + "' line " +
                                std::to_string(at->file_line) + ": " + why);
  }
  return rows;
}

std::vector<ResultRow> read_results_csv(const std::string& path, std::size_t* torn_tail_bytes) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status))
    throw std::invalid_argument("results file '" + path + "': no such file");
  if (!std::filesystem::is_regular_file(status))
    throw std::invalid_argument("results file '" + path + "' is not a regular file");
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw std::invalid_argument("cannot read results file '" + path + "'");
  return parse_results_csv(text, path, torn_tail_bytes);
}

}  // namespace attn::harness
