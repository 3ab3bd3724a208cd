#include "harness/analysis/compare.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <ostream>
#include <sstream>
#include <utility>

#include "attention/core/variant.hpp"
#include "harness/io/csv.hpp"

namespace attn::harness {
namespace {

// Rows listed per "only in" or "not compared" group before the rest is counted.
constexpr std::size_t kListLimit = 10;

// Ratios within this of the threshold count as on it, so "exactly 5% slower" is not a
// regression because of rounding in the CSV.
constexpr double kRatioTolerance = 1e-9;

// One file's rows by key: the last row of a repeated key wins, at its first row's position.
struct KeyedRows {
  std::vector<ResultRow> rows;
  std::map<ResultKey, std::size_t> index;
  std::size_t repeated = 0;
};

KeyedRows key_rows(std::vector<ResultRow> rows) {
  KeyedRows keyed;
  for (ResultRow& row : rows) {
    auto [it, inserted] = keyed.index.emplace(result_key(row), keyed.rows.size());
    if (inserted) {
      keyed.rows.push_back(std::move(row));
    } else {
      keyed.rows[it->second] = std::move(row);
      ++keyed.repeated;
    }
  }
  return keyed;
}

bool has_time(const ResultRow& row) {
  return row.status == kStatusOk && row.time_ms && *row.time_ms > 0;
}

std::string format(const char* pattern, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, pattern, value);
  return buf;
}

// Four significant digits at any scale: sparse variants run in microseconds, dense in seconds.
std::string format_ms(double ms) {
  if (ms < 1) return format("%.4f", ms);
  if (ms < 100) return format("%.3f", ms);
  return format("%.1f", ms);
}

template <class T>
std::string base_to_new(const std::optional<T>& base, const std::optional<T>& fresh,
                        const char* pattern) {
  auto one = [&](const std::optional<T>& v) { return v ? format(pattern, *v) : "-"; };
  return one(base) + " -> " + one(fresh);
}

std::string percent(double ratio) { return format("%+.1f%%", (ratio - 1) * 100); }

void print_table(const std::vector<std::vector<std::string>>& table, std::ostream& out) {
  std::vector<std::size_t> widths;
  for (const auto& row : table)
    for (std::size_t c = 0; c < row.size(); ++c) {
      if (widths.size() <= c) widths.push_back(0);
      widths[c] = std::max(widths[c], row[c].size());
    }
  for (const auto& row : table) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line.append(widths[c] - row[c].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
}

void print_list(const std::string& title, const std::vector<std::string>& lines,
                std::ostream& out) {
  if (lines.empty()) return;
  out << "\n" << title << " (" << lines.size() << "):\n";
  for (std::size_t i = 0; i < lines.size() && i < kListLimit; ++i) out << "  " << lines[i] << "\n";
  if (lines.size() > kListLimit) out << "  ... and " << lines.size() - kListLimit << " more\n";
}

std::string status_of(const ResultRow& row) {
  std::string text = row.status;
  if (row.status == kStatusOk && !has_time(row)) text += " without a time";
  if (!row.message.empty()) text += " (" + row.message + ")";
  return text;
}

std::string describe(const ResultRow& row) { return row.spec() + "  " + point_summary(row); }

}  // namespace

ResultKey result_key(const ResultRow& r) {
  return {r.variant,   r.params,   r.batch, r.heads,    r.kv_heads,    r.seq_len,
          r.query_len, r.head_dim, r.dtype, r.kv_dtype, r.causal,      r.shared_qk,
          r.input,     r.seed,     r.scale, r.threads,  r.decode_steps};
}

std::string point_summary(const ResultRow& r) {
  std::ostringstream s;
  s << "N=" << r.seq_len;
  if (r.query_len != r.seq_len) s << " M=" << r.query_len;
  if (r.decode_steps > 0) s << " +" << r.decode_steps << " steps";
  s << " B" << r.batch << " H" << r.heads;
  if (r.kv_heads != r.heads) s << " KV" << r.kv_heads;
  s << " D" << r.head_dim;
  if (r.dtype != "fp32") s << " " << r.dtype;
  if (r.kv_dtype != r.dtype) s << " " << r.kv_dtype << "-cache";
  if (r.causal) s << " causal";
  if (r.shared_qk) s << " shared-qk";
  s << " " << r.input << " seed=" << r.seed;
  // The scale is part of the key but almost always the default; show it only when it is not.
  if (r.head_dim > 0 && r.scale != default_scale(r.head_dim)) s << " scale=" << r.scale;
  s << " T" << r.threads;
  return s.str();
}

int compare_results(const CompareOptions& options, std::ostream& out) {
  std::size_t base_torn = 0, fresh_torn = 0;
  const KeyedRows base = key_rows(read_results_csv(options.base, &base_torn));
  const KeyedRows fresh = key_rows(read_results_csv(options.fresh, &fresh_torn));

  out << "base " << options.base << " (" << base.rows.size() << " points), new " << options.fresh
      << " (" << fresh.rows.size() << " points); threshold "
      << format("%g", options.threshold * 100) << "%, floor " << format("%g", options.min_time_ms)
      << " ms\n\n";

  std::vector<std::vector<std::string>> table = {{"variant", "point", "base ms", "new ms",
                                                  "new/base", "change", "GFLOP/s", "rel_err",
                                                  "mass_recall", ""}};
  std::vector<std::string> only_base, only_new, not_compared;
  std::size_t regressions = 0, improvements = 0;
  double log_ratio_sum = 0;
  for (const ResultRow& b : base.rows) {
    const auto match = fresh.index.find(result_key(b));
    if (match == fresh.index.end()) {
      only_base.push_back(describe(b) + "  " + status_of(b));
      continue;
    }
    const ResultRow& n = fresh.rows[match->second];
    if (!has_time(b) || !has_time(n)) {
      not_compared.push_back(describe(b) + "  base " + status_of(b) + ", new " + status_of(n));
      continue;
    }
    const double ratio = *n.time_ms / *b.time_ms;
    log_ratio_sum += std::log(ratio);
    const bool above_floor = *b.time_ms > options.min_time_ms && *n.time_ms > options.min_time_ms;
    std::string mark;
    if (ratio > 1 + options.threshold + kRatioTolerance) {
      mark = above_floor ? "REGRESSION" : "slower, under the floor";
      regressions += above_floor;
    } else if (ratio < 1 - options.threshold - kRatioTolerance) {
      mark = above_floor ? "improvement" : "faster, under the floor";
      improvements += above_floor;
    }
    table.push_back({b.spec(), point_summary(b), format_ms(*b.time_ms), format_ms(*n.time_ms),
                     format("%.3f", ratio), percent(ratio), base_to_new(b.gflops, n.gflops, "%.1f"),
                     base_to_new(b.rel_err, n.rel_err, "%.2e"),
                     base_to_new(b.mass_recall, n.mass_recall, "%.4f"), mark});
  }
  for (const ResultRow& n : fresh.rows)
    if (!base.index.count(result_key(n))) only_new.push_back(describe(n) + "  " + status_of(n));

  const std::size_t compared = table.size() - 1;
  if (compared)
    print_table(table, out);
  else
    out << "no point has status ok in both files\n";
  print_list("only in " + options.base, only_base, out);
  print_list("only in " + options.fresh, only_new, out);
  print_list("not compared: status not ok in one or both files", not_compared, out);
  for (const auto* file : {&base, &fresh})
    if (file->repeated)
      out << "\nnote: " << (file == &base ? options.base : options.fresh) << " repeats "
          << file->repeated << " point(s); the last row of each is used\n";
  for (const auto& [name, torn] : {std::pair{options.base, base_torn}, {options.fresh, fresh_torn}})
    if (torn)
      out << "\nnote: " << name << " ends in a row torn by an interrupted write (" << torn
          << " bytes without a newline); ignored\n";

  out << "\n"
      << compared << " compared, " << regressions << " regression" << (regressions == 1 ? "" : "s")
      << ", " << improvements << " improvement" << (improvements == 1 ? "" : "s")
      << ", geometric-mean ratio ";
  if (compared) {
    const double geomean = std::exp(log_ratio_sum / static_cast<double>(compared));
    out << format("%.3f", geomean) << " (" << percent(geomean) << ")\n";
  } else {
    out << "n/a\n";
  }
  return options.fail_on_regression && regressions > 0 ? 1 : 0;
}

}  // namespace attn::harness
