#include "harness/analysis/report.hpp"

#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "attention/core/registry.hpp"
#include "harness/analysis/compare.hpp"
#include "harness/analysis/row_fields.hpp"
#include "harness/io/csv.hpp"
#include "harness/io/machine.hpp"
#include "harness/io/shell_word.hpp"
#include "harness/sweep/usage_error.hpp"

namespace attn::harness {
namespace {

namespace fs = std::filesystem;

// Where and how the rows were measured; shown when the CSV has the column.
const std::vector<std::string>& context_columns() {
  static const std::vector<std::string> names = {
      "cpu",       "cpu_vendor", "cpu_family_model", "cpu_uarch",    "cpu_isa",
      "blas_core", "compiler",   "build_type",       "git_revision", "host",
      "dtype",     "kv_dtype",   "kernel",           "shard",        "job_id"};
  return names;
}

std::string escape_html(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string base64(const std::string& bytes) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 2]);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? alphabet[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? alphabet[v & 63] : '=';
  }
  return out;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string table_html(const std::vector<std::vector<std::string>>& table, const char* id,
                       bool sortable) {
  std::string html = std::string("<table id=\"") + id + "\"" +
                     (sortable ? " class=\"sortable\"" : "") + "><thead><tr>";
  for (const auto& h : table.front()) html += "<th>" + escape_html(h) + "</th>";
  html += "</tr></thead><tbody>\n";
  for (std::size_t r = 1; r < table.size(); ++r) {
    html += "<tr>";
    for (const auto& cell : table[r]) html += "<td>" + escape_html(cell) + "</td>";
    html += "</tr>\n";
  }
  return html + "</tbody></table>\n";
}

// The plot script's figures for these rows, as (file name, SVG text). One drawing code: the
// report embeds what plot_results.py draws. `failure` says why there are none.
std::vector<std::pair<std::string, std::string>> draw_figures(const std::vector<ResultRow>& rows,
                                                              std::string& failure) {
  std::string pattern = (fs::temp_directory_path() / "attnbench-report-XXXXXX").string();
  if (!mkdtemp(pattern.data())) {
    failure = "could not create a temporary folder for the figures";
    return {};
  }
  const fs::path dir = pattern;
  std::vector<std::pair<std::string, std::string>> figures;
  {
    CsvWriter writer((dir / "results.csv").string());
    for (const ResultRow& r : rows) writer.write(r);
  }
  const std::string python = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  const std::string command = python + " '" + ATTN_PLOT_SCRIPT + "' '" +
                              (dir / "results.csv").string() + "' --out '" +
                              (dir / "figures").string() + "' 1>&2";
  const int status = std::system(command.c_str());
  if (status != 0) {
    failure = "the plot script failed (" + command + ", status " + std::to_string(status) + ")";
  } else if (fs::is_directory(dir / "figures")) {
    std::vector<fs::path> svgs;
    for (const auto& entry : fs::directory_iterator(dir / "figures"))
      if (entry.path().extension() == ".svg") svgs.push_back(entry.path());
    std::sort(svgs.begin(), svgs.end());
    for (const auto& svg : svgs) figures.emplace_back(svg.stem().string(), read_file(svg));
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return figures;
}

// The sweep whose axes are the rows' distinct values; says when the rows are not one product.
std::string derived_command(const std::vector<ResultRow>& rows, const std::string& out,
                            std::string& note) {
  std::vector<std::string> specs;
  std::map<std::string, std::vector<std::string>> values;
  const std::vector<std::pair<std::string, std::string>> axes = {
      {"seq_len", "seq-len"},  {"query_len", "query-len"}, {"batch", "batch"},
      {"heads", "heads"},      {"kv_heads", "kv-heads"},   {"head_dim", "head-dim"},
      {"causal", "causal"},    {"shared_qk", "shared-qk"}, {"input", "input"},
      {"seed", "seed"},        {"threads", "threads"},     {"dtype", "dtype"},
      {"kv_dtype", "kv-dtype"}};
  bool square = true, default_scale = true;
  std::set<std::string> scales, reps, revisions;
  std::int64_t accuracy_rows = 0;
  std::set<std::int64_t> sample_sizes;
  for (const ResultRow& r : rows) {
    if (std::find(specs.begin(), specs.end(), r.spec()) == specs.end()) specs.push_back(r.spec());
    const RowFields f = row_fields(r);
    for (const auto& [column, option] : axes) {
      const auto it = f.find(column);
      if (it == f.end()) continue;
      auto& v = values[column];
      if (std::find(v.begin(), v.end(), it->second) == v.end()) v.push_back(it->second);
    }
    square = square && r.square();
    const float standard = 1.0f / std::sqrt(static_cast<float>(r.head_dim));
    default_scale = default_scale && std::fabs(r.scale - standard) <= 1e-6f * standard;
    scales.insert(f.at("scale"));
    if (r.reps) reps.insert(std::to_string(*r.reps));
    if (r.accuracy_rows && *r.accuracy_rows < r.query_len) {
      accuracy_rows = std::max(accuracy_rows, *r.accuracy_rows);
      sample_sizes.insert(*r.accuracy_rows);
    }
    revisions.insert(r.context.git_revision);
  }
  std::string command = "attnbench sweep";
  for (const auto& s : specs) command += " --variant " + shell_word(s);
  std::size_t product = specs.size();
  for (const auto& [column, option] : axes) {
    if (!values.count(column)) continue;
    if (square && (column == "query_len" || column == "kv_heads")) continue;
    auto v = values[column];
    product *= v.size();
    std::string list;
    for (const auto& x : v) list += (list.empty() ? "" : ",") + x;
    command += " --" + option + " " + shell_word(list);
  }
  if (!default_scale && scales.size() == 1) command += " --scale " + *scales.begin();
  if (reps.size() == 1) command += " --reps " + *reps.begin();
  if (accuracy_rows > 0) command += " --accuracy-rows " + std::to_string(accuracy_rows);
  command += " --out " + shell_word(out);
  std::string revision;
  for (const auto& r : revisions) revision += (revision.empty() ? "" : ", ") + r;
  note = "Derived from the rows (the CSV does not record the command line), at git revision " +
         revision + ".";
  if (product != rows.size())
    note += " The rows are not one cartesian product (" + std::to_string(rows.size()) +
            " rows; this command measures " + std::to_string(product) +
            "): they come from several sweeps, whose own commands are in their configs.";
  if (!default_scale && scales.size() > 1) note += " Several --scale values were used.";
  if (reps.size() > 1) note += " The rows used several --reps values.";
  if (sample_sizes.size() > 1) note += " The rows used several --accuracy-rows values.";
  note += " --min-time is not recorded in the CSV.";
  return command;
}

// A variant's definition: its registry summary and the meaning of each parameter it was run
// with.
std::string variant_definition(const ResultRow& r) {
  const auto* entry = Registry::instance().find(r.variant);
  if (!entry) return "<p>not registered in this build of attnbench</p>";
  std::string html = "<p>" + escape_html(entry->info.summary) + "</p>";
  if (entry->info.params.empty()) return html;
  html += "<ul>";
  for (const ParamInfo& p : entry->info.params)
    html += "<li><code>" + escape_html(p.key) + "</code>: " + escape_html(p.help) + " (default " +
            escape_html(p.format(p.default_value)) + ", " + escape_html(p.range()) + ")</li>";
  return html + "</ul>";
}

constexpr const char* kStyle = R"(
body { font-family: sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.45em; text-align: left; white-space: nowrap; }
th { background: #eef; }
table.sortable th { cursor: pointer; }
th[aria-sort=ascending]::after { content: " \25B2"; }
th[aria-sort=descending]::after { content: " \25BC"; }
.scroll { overflow-x: auto; max-width: 100%; }
#variants-table td, #problems-table td { white-space: normal; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figure img { max-width: 46em; width: 100%; border: 1px solid #ddd; }
code, pre { background: #f4f4f4; } pre { padding: 0.6em; white-space: pre-wrap; }
)";

// Sorts a table by the clicked column: numbers as numbers, other text alphabetically, empty
// cells last either way; a second click reverses.
constexpr const char* kScript = R"(
function sortTable(table, column, heading) {
  var ascending = heading.getAttribute('aria-sort') !== 'ascending';
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) {
    h.removeAttribute('aria-sort');
  });
  heading.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  rows.sort(function (a, b) {
    var x = a.cells[column].textContent, y = b.cells[column].textContent;
    if (x === '' || y === '') return (x === '') - (y === '');
    var nx = Number(x), ny = Number(y), order;
    if (!isNaN(nx) && !isNaN(ny)) order = nx - ny;
    else order = x < y ? -1 : x > y ? 1 : 0;
    return ascending ? order : -order;
  });
  rows.forEach(function (row) { body.appendChild(row); });
}
document.querySelectorAll('table.sortable').forEach(function (table) {
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (heading, column) {
    heading.addEventListener('click', function () { sortTable(table, column, heading); });
  });
});
)";

}  // namespace

int write_report(const ReportRequest& request) {
  if (request.files.empty()) throw UsageError("report needs at least one results CSV");
  if (request.out.empty()) throw UsageError("report needs --out REPORT.html");
  std::vector<ResultRow> rows;
  std::vector<std::pair<std::string, std::size_t>> file_rows;
  for (const auto& file : request.files) {
    std::error_code ec;
    if (fs::exists(request.out, ec) && fs::equivalent(file, request.out, ec))
      throw UsageError("--out '" + request.out + "' is one of the input files");
    auto part = read_results_csv(file);
    file_rows.emplace_back(file, part.size());
    rows.insert(rows.end(), std::make_move_iterator(part.begin()),
                std::make_move_iterator(part.end()));
  }
  const AdviseResult advice = advise(rows, request.advise);

  std::string failure;
  const auto figures = rows.empty() ? std::vector<std::pair<std::string, std::string>>{}
                                    : draw_figures(rows, failure);

  std::string html = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  html += "<title>attnbench report</title><style>" + std::string(kStyle) + "</style></head><body>";
  html += "<h1>attnbench report</h1><p>" + std::to_string(rows.size()) + " rows from ";
  for (std::size_t i = 0; i < file_rows.size(); ++i)
    html += (i ? ", " : "") + std::string("<code>") + escape_html(file_rows[i].first) +
            "</code> (" + std::to_string(file_rows[i].second) + ")";
  html += "; written " + escape_html(utc_timestamp()) + ".</p>\n";

  // Machine and build context.
  html += "<h2 id=\"context\">Machine and build</h2><table id=\"context-table\"><tbody>";
  for (const auto& column : context_columns()) {
    if (!has_column(column)) continue;
    std::map<std::string, std::size_t> counts;
    for (const ResultRow& r : rows) ++counts[row_fields(r).at(column)];
    std::string cell;
    for (const auto& [value, n] : counts)
      cell += (cell.empty() ? "" : "<br>") + escape_html(value.empty() ? "(empty)" : value) +
              (counts.size() > 1 ? " (" + std::to_string(n) + " rows)" : "");
    html += "<tr><th>" + escape_html(column) + "</th><td>" + cell + "</td></tr>";
  }
  std::string first, last;
  for (const ResultRow& r : rows) {
    if (first.empty() || r.timestamp < first) first = r.timestamp;
    if (last.empty() || r.timestamp > last) last = r.timestamp;
  }
  html += "<tr><th>measured</th><td>" + escape_html(first) + " to " + escape_html(last) +
          "</td></tr></tbody></table>\n";

  // The answer.
  html += "<h2 id=\"advice\">Advice</h2><p>Bounds: " +
          escape_html(advice.bounds.empty() ? "none" : advice.bounds) + "; baseline <code>" +
          escape_html(advice.baseline) +
          "</code>. Variants whose min-max time ranges overlap are a tie and all are named "
          "(joined by =). Same as <code>attnbench advise</code> on these files.</p>";
  html +=
      "<div class=\"scroll\">" + table_html(advice_table(advice), "advice-table", false) + "</div>";
  if (!advice.summary.empty()) {
    html += "<ul id=\"crossovers\">";
    for (const auto& s : advice.summary) html += "<li>" + escape_html(s) + "</li>";
    html += "</ul>";
  }

  html += "<h2 id=\"figures\">Figures</h2>";
  if (!failure.empty()) html += "<p><strong>No figures:</strong> " + escape_html(failure) + "</p>";
  for (const auto& [name, svg] : figures)
    html += "<figure><img alt=\"" + escape_html(name) + "\" src=\"data:image/svg+xml;base64," +
            base64(svg) + "\"><figcaption>" + escape_html(name) + "</figcaption></figure>\n";

  // Every row, as the CSV has it.
  std::vector<std::vector<std::string>> table = {csv_columns()};
  for (const ResultRow& r : rows) table.push_back(split_csv_line(csv_line(r)));
  html += "<h2 id=\"results\">Results</h2><p>Every row of the files; click a heading to sort.</p>";
  html += "<div class=\"scroll\">" + table_html(table, "results-table", true) + "</div>";

  html +=
      "<h2 id=\"variants\">Variants</h2><table id=\"variants-table\"><thead><tr><th>spec</th>"
      "<th>definition</th></tr></thead><tbody>";
  std::set<std::string> seen;
  for (const ResultRow& r : rows)
    if (seen.insert(r.spec()).second)
      html += "<tr><td><code>" + escape_html(r.spec()) + "</code></td><td>" +
              variant_definition(r) + "</td></tr>";
  html += "</tbody></table>\n";

  html += "<h2 id=\"not-measured\">Skipped and error rows</h2>";
  std::vector<std::vector<std::string>> problems = {{"status", "variant", "point", "message"}};
  for (const ResultRow& r : rows)
    if (r.status != kStatusOk)
      problems.push_back({r.status, r.spec(), point_summary(r), r.message});
  html += problems.size() == 1 ? "<p>None: every row is ok.</p>"
                               : table_html(problems, "problems-table", false);

  html += "<h2 id=\"reproduce\">Reproduce</h2>";
  if (!request.command.empty())
    html += "<p>The command that wrote these rows:</p><pre id=\"command\">" +
            escape_html(request.command) + "</pre>";
  if (!rows.empty()) {
    // Also spelled out from the rows, which stays true when a --config file changes later.
    std::string note;
    const std::string command = derived_command(rows, request.files.front(), note);
    if (!request.command.empty()) html += "<p>The same sweep with every axis spelled out:</p>";
    html += "<pre id=\"derived-command\">" + escape_html(command) + "</pre><p>" +
            escape_html(note) + "</p>";
  }
  html += "<script>" + std::string(kScript) + "</script></body></html>\n";

  const std::string temp = request.out + ".partial";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write '" + temp + "'");
    out << html;
    if (!out.flush()) throw std::runtime_error("cannot write '" + temp + "'");
  }
  fs::rename(temp, request.out);
  std::fprintf(stderr, "wrote the report of %zu rows to %s\n", rows.size(), request.out.c_str());
  if (!failure.empty()) {
    std::fprintf(stderr, "attnbench report: %s; the report has no figures\n", failure.c_str());
    return 1;
  }
  return 0;
}

}  // namespace attn::harness
