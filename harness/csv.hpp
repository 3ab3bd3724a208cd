#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "harness/result_row.hpp"

namespace attn::harness {

// The CSV columns, in order. Tidy: one row per (point, variant), nothing derivable from other
// columns except gflops, which users sort by.
const std::vector<std::string>& csv_columns();
std::string csv_header_line();  // without the newline
std::string csv_line(const ResultRow& row);

// Appends rows to a results CSV, one whole line per write and flushed at once, so an
// interrupted sweep keeps every row it finished. Writes the header if the file is new or empty;
// throws std::invalid_argument if an existing file has another header.
class CsvWriter {
 public:
  explicit CsvWriter(const std::string& path);
  ~CsvWriter();
  CsvWriter(const CsvWriter&) = delete;
  CsvWriter& operator=(const CsvWriter&) = delete;

  void write(const ResultRow& row);
  const std::string& path() const { return path_; }

 private:
  void write_line(const std::string& line);

  std::string path_;
  int fd_ = -1;
};

// Reads a results CSV written by CsvWriter. Throws std::invalid_argument naming the file and
// line when the header differs or a row is malformed.
std::vector<ResultRow> read_results_csv(const std::string& path);

}  // namespace attn::harness
