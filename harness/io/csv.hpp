#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "harness/io/result_row.hpp"

namespace attn::harness {

// The CSV columns, in order. Tidy: one row per (point, variant), nothing derivable from other
// columns except gflops, which users sort by, and min_bytes, the compulsory traffic that GB/s
// figures divide by.
const std::vector<std::string>& csv_columns();
std::string csv_header_line();  // without the newline
std::string csv_line(const ResultRow& row);

// Appends rows to a results CSV, one whole line per write and flushed at once, so an
// interrupted sweep keeps every row it finished. Writes the header if the file is new or empty;
// throws std::invalid_argument if an existing file has another header or is not a regular file.
// A last line without its '\n' is a row torn by a kill in the middle of its write: it is cut
// off before appending (dropped_torn_bytes() says how much), so it never glues onto a new row.
class CsvWriter {
 public:
  explicit CsvWriter(const std::string& path);
  ~CsvWriter();
  CsvWriter(const CsvWriter&) = delete;
  CsvWriter& operator=(const CsvWriter&) = delete;

  void write(const ResultRow& row);
  const std::string& path() const { return path_; }
  std::size_t dropped_torn_bytes() const { return dropped_torn_bytes_; }

 private:
  void write_line(const std::string& line);

  std::string path_;
  int fd_ = -1;
  std::size_t dropped_torn_bytes_ = 0;
};

// Reads a results CSV written by CsvWriter. Throws std::invalid_argument naming the file (and
// the line) when it is missing or not a regular file, has another header, or a row is
// malformed. A file written before a group of added columns (its header is the suite's without
// the serving-shape columns kv_heads, query_len and min_bytes, or without the sharding columns
// host, shard and job_id, or both) is read too: a file without the serving columns holds square
// points, so kv_heads = heads, query_len = seq_len, and min_bytes is empty; the sharding columns
// read as empty, and so do the CPU identity columns (cpu_vendor, cpu_family_model, cpu_uarch,
// cpu_isa) of a file written before them. CsvWriter does not append to such a file (merge
// rewrites it with the current header). A last line without its '\n' (torn by a kill) is not
// parsed; its size goes to `torn_tail_bytes` when given.
std::vector<ResultRow> read_results_csv(const std::string& path,
                                        std::size_t* torn_tail_bytes = nullptr);
// The same on the file's contents; `name` is used in messages.
std::vector<ResultRow> parse_results_csv(std::string_view text, const std::string& name,
                                         std::size_t* torn_tail_bytes = nullptr);

}  // namespace attn::harness
