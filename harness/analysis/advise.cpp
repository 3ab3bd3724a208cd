#include "harness/analysis/advise.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <ostream>
#include <set>

#include "harness/analysis/row_fields.hpp"
#include "harness/io/csv.hpp"
#include "harness/sweep/usage_error.hpp"

namespace attn::harness {
namespace {

// Point columns in the order a group is printed, seq_len last; dtype once the writer has it.
const std::vector<std::string>& point_columns() {
  static const std::vector<std::string> names = {
      "input", "dtype", "kv_dtype", "causal",       "shared_qk",
      "batch", "heads", "kv_heads", "query_len",    "head_dim",
      "seed",  "scale", "threads",  "decode_steps", "seq_len"};
  return names;
}

// Columns a user may group by besides the point: where and how rows were measured.
const std::vector<std::string>& context_columns() {
  static const std::vector<std::string> names = {
      "cpu",      "cpu_vendor", "cpu_family_model", "cpu_uarch", "cpu_isa", "blas_core",
      "compiler", "build_type", "git_revision",     "host",      "kernel"};
  return names;
}

// Columns of the winner shown when the CSV has them (added by later layouts).
const std::vector<std::string>& winner_extra_columns() {
  static const std::vector<std::string> names = {"kernel", "select_ms"};
  return names;
}

std::optional<double> as_number(const std::string& text) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

// Numbers compare as numbers (N = 2048 before 16384), everything else as text.
bool value_less(const std::string& a, const std::string& b) {
  const auto x = as_number(a), y = as_number(b);
  if (x && y) return *x < *y;
  if (x != y) return x.has_value();
  return a < b;
}
bool key_less(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), value_less);
}

std::string format(const char* pattern, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, pattern, value);
  return buf;
}
std::string format_ms(double ms) {
  if (ms < 1) return format("%.4f", ms);
  if (ms < 100) return format("%.3f", ms);
  return format("%.1f", ms);
}
// 1024 -> 1K, 1048576 -> 1M: how sweeps are written.
std::string format_length(const std::string& text) {
  const auto v = as_number(text);
  if (!v || *v <= 0 || *v != std::floor(*v)) return text;
  const auto n = static_cast<std::int64_t>(*v);
  if (n % (1 << 20) == 0) return std::to_string(n >> 20) + "M";
  if (n % (1 << 10) == 0) return std::to_string(n >> 10) + "K";
  return text;
}

double low(const ResultRow& r) { return r.time_ms_min.value_or(*r.time_ms); }
double high(const ResultRow& r) { return r.time_ms_max.value_or(*r.time_ms); }
bool ranges_overlap(const ResultRow& a, const ResultRow& b) {
  return low(a) <= high(b) && low(b) <= high(a);
}

// A decode session is judged where it ends: its accuracy at the last sampled step (eviction's
// loss grows with the steps) and the bytes its cache holds; a single forward by its mean over
// the sampled rows and its heap peak.
std::optional<double> judged_recall(const ResultRow& r) {
  return r.decode_steps > 0 ? r.mass_recall_last : r.mass_recall;
}
std::optional<double> judged_rel_err(const ResultRow& r) {
  return r.decode_steps > 0 ? r.rel_err_last : r.rel_err;
}
std::optional<std::int64_t> judged_memory(const ResultRow& r) {
  return r.decode_steps > 0 ? r.cache_bytes : r.peak_bytes;
}

bool meets(const ResultRow& r, const AdviseOptions& o) {
  const auto recall = judged_recall(r), rel_err = judged_rel_err(r);
  const auto memory = judged_memory(r);
  if (o.min_recall && !(recall && *recall >= *o.min_recall)) return false;
  if (o.max_rel_err && !(rel_err && *rel_err <= *o.max_rel_err)) return false;
  if (o.max_memory && !(memory && *memory <= *o.max_memory)) return false;
  return true;
}

bool is_baseline(const ResultRow& r, const std::string& baseline) {
  return r.variant == baseline || r.spec() == baseline;
}

std::string bounds_text(const AdviseOptions& o) {
  std::vector<std::string> parts;
  if (o.min_recall) parts.push_back("mass_recall >= " + format("%g", *o.min_recall));
  if (o.max_rel_err) parts.push_back("rel_err <= " + format("%g", *o.max_rel_err));
  if (o.max_memory)
    parts.push_back(
        "peak memory <= " +
        format("%g", static_cast<double>(*o.max_memory) / static_cast<double>(1 << 20)) + " MiB");
  std::string text;
  for (const auto& p : parts) text += (text.empty() ? "" : ", ") + p;
  return text;
}

// The words for a series: "local", or "gaussian, causal=true".
std::string series_label(const std::vector<std::string>& by, const std::vector<std::string>& key,
                         std::size_t skip) {
  std::string label;
  for (std::size_t i = 0; i < by.size(); ++i) {
    if (i == skip) continue;
    if (!label.empty()) label += ", ";
    label += by[i] == "input" ? key[i] : by[i] + "=" + key[i];
  }
  return label;
}

// A group's rows: the ok, timed rows, one per spec (a repeated spec keeps its last row).
struct Group {
  std::vector<std::string> key;
  std::vector<const ResultRow*> rows;
};

// seq_len's and heads' neighbours: query_len follows seq_len and kv_heads follows heads in a
// square sweep, so they vary only when one anchor value has several of them.
std::string anchor_of(const std::string& column) {
  if (column == "query_len") return "seq_len";
  if (column == "kv_heads") return "heads";
  return "";
}

std::vector<std::string> default_grouping(const std::vector<const ResultRow*>& rows) {
  std::vector<std::string> by;
  for (const auto& column : point_columns()) {
    if (!has_column(column)) continue;
    const std::string anchor = anchor_of(column);
    std::map<std::string, std::set<std::string>> values;  // anchor value -> column values
    for (const ResultRow* r : rows) {
      const RowFields f = row_fields(*r);
      values[anchor.empty() ? "" : f.at(anchor)].insert(f.at(column));
    }
    const bool varies = std::any_of(values.begin(), values.end(),
                                    [](const auto& v) { return v.second.size() > 1; });
    if (column == "seq_len" || varies) by.push_back(column);
  }
  return by;
}

void crossover_summary(const std::vector<Group>& groups, AdviseResult& advice,
                       const AdviseOptions& options) {
  const auto seq = std::find(advice.by.begin(), advice.by.end(), "seq_len");
  if (seq == advice.by.end()) return;
  const auto seq_index = static_cast<std::size_t>(seq - advice.by.begin());

  // Groups of one series, in order of N (groups are sorted, but N is not the last key column
  // when the user puts it elsewhere in --by).
  std::map<std::vector<std::string>, std::vector<const Group*>,
           bool (*)(const std::vector<std::string>&, const std::vector<std::string>&)>
      series(key_less);
  for (const Group& g : groups) {
    auto rest = g.key;
    rest.erase(rest.begin() + static_cast<std::ptrdiff_t>(seq_index));
    series[rest].push_back(&g);
  }
  for (auto& [rest, members] : series) {
    std::stable_sort(members.begin(), members.end(), [&](const Group* a, const Group* b) {
      return value_less(a->key[seq_index], b->key[seq_index]);
    });
    const std::string label = series_label(advice.by, members.front()->key, seq_index);
    const std::string on = label.empty() ? "" : " on " + label;
    bool any_baseline = false;
    // spec -> whether it met the bounds and beat the baseline at each N where it ran.
    std::map<std::string, std::vector<std::pair<std::string, bool>>> runs;
    std::set<std::string> sparse_qualified;
    for (const Group* g : members) {
      const ResultRow* base = nullptr;
      for (const ResultRow* r : g->rows)
        if (is_baseline(*r, options.baseline)) base = r;
      any_baseline = any_baseline || base;
      for (const ResultRow* r : g->rows) {
        if (attends_every_key(*r)) continue;
        const bool ok = meets(*r, options);
        if (ok) sparse_qualified.insert(r->spec());
        const bool beats = !base || (*r->time_ms < *base->time_ms && !ranges_overlap(*r, *base));
        runs[r->spec()].emplace_back(g->key[seq_index], ok && beats);
      }
    }
    if (sparse_qualified.empty()) {
      advice.summary.push_back(
          "nothing sparse " +
          (advice.bounds.empty() ? std::string("was measured") : "meets " + advice.bounds) + on);
      continue;
    }
    // "meets mass_recall >= 0.99 and beats flash", or what of it applies.
    std::string claim = advice.bounds.empty() ? "" : "meets " + advice.bounds;
    if (any_baseline) claim += (claim.empty() ? "" : " and ") + ("beats " + options.baseline);
    const std::string no_baseline =
        any_baseline ? "" : " (no " + options.baseline + " rows to compare with)";
    std::vector<std::pair<std::string, std::string>> crossings;  // (N, spec)
    for (const auto& [spec, at] : runs) {
      // The smallest N from which it wins at every larger N it ran at.
      std::size_t from = at.size();
      while (from > 0 && at[from - 1].second) --from;
      if (from < at.size()) crossings.emplace_back(at[from].first, spec);
    }
    std::stable_sort(crossings.begin(), crossings.end(),
                     [](const auto& a, const auto& b) { return value_less(a.first, b.first); });
    if (crossings.empty()) {
      advice.summary.push_back("no sparse variant " + claim + " up to the largest N" + on);
      continue;
    }
    for (const auto& [n, spec] : crossings)
      advice.summary.push_back(spec + " " + claim + (claim.empty() ? "" : " ") +
                               "from N = " + format_length(n) + on + no_baseline);
  }
}

std::string or_dash(const std::optional<double>& v, const char* pattern) {
  return v ? format(pattern, *v) : "-";
}

std::string csv_escape(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

void print_aligned(const std::vector<std::vector<std::string>>& table, std::ostream& out) {
  std::vector<std::size_t> width(table.front().size(), 0);
  for (const auto& row : table)
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  for (const auto& row : table) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(width[i] - row[i].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

std::string markdown_cell(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

}  // namespace

bool attends_every_key(const ResultRow& r) {
  if (!r.pairs) return false;
  if (r.decode_steps > 0) {
    // pairs is the mean over the steps, whose caches hold N + 1 .. N + T keys.
    const double t = static_cast<double>(r.decode_steps);
    const double keys = static_cast<double>(r.seq_len) + (t + 1) / 2;
    return *r.pairs == std::llround(static_cast<double>(r.batch * r.heads) * keys);
  }
  const std::int64_t n = r.seq_len, m = r.query_len, first = n - m;
  // Causal: the query at position p = first + i sees p + 1 keys.
  const std::int64_t per_problem = r.causal ? m * first + m * (m + 1) / 2 : m * n;
  return *r.pairs == r.batch * r.heads * per_problem;
}

AdviseResult advise(const std::vector<ResultRow>& rows, const AdviseOptions& options) {
  AdviseResult advice;
  advice.baseline = options.baseline;
  advice.bounds = bounds_text(options);
  if (!advice.bounds.empty() &&
      std::any_of(rows.begin(), rows.end(), [](const ResultRow& r) { return r.decode_steps > 0; }))
    advice.bounds += " (a decode session: accuracy at its last sampled step, memory its cache)";
  std::vector<const ResultRow*> timed;
  for (const ResultRow& r : rows)
    if (r.status == kStatusOk && r.time_ms) timed.push_back(&r);

  if (options.by.empty()) {
    advice.by = default_grouping(timed);
  } else {
    std::vector<std::string> allowed;
    for (const auto* list : {&point_columns(), &context_columns()})
      for (const auto& c : *list)
        if (has_column(c)) allowed.push_back(c);
    for (const auto& column : options.by)
      if (std::find(allowed.begin(), allowed.end(), column) == allowed.end()) {
        std::string names;
        for (const auto& c : allowed) names += (names.empty() ? "" : ", ") + c;
        throw UsageError("--by: '" + column + "' is not a column to group by; allowed: " + names);
      }
    advice.by = options.by;
  }
  bool baseline_named = false;
  for (const ResultRow& r : rows)
    baseline_named = baseline_named || is_baseline(r, options.baseline);
  if (options.baseline_required && !baseline_named && !rows.empty()) {
    std::set<std::string> names;
    for (const ResultRow& r : rows) names.insert(r.variant);
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    throw UsageError("--baseline: no row is variant '" + options.baseline +
                     "'; the files have: " + list);
  }

  std::map<std::vector<std::string>, Group,
           bool (*)(const std::vector<std::string>&, const std::vector<std::string>&)>
      groups(key_less);
  for (const ResultRow* r : timed) {
    const RowFields fields = row_fields(*r);
    std::vector<std::string> key;
    for (const auto& column : advice.by) key.push_back(fields.at(column));
    Group& g = groups[key];
    g.key = key;
    auto same = std::find_if(g.rows.begin(), g.rows.end(),
                             [&](const ResultRow* o) { return o->spec() == r->spec(); });
    if (same != g.rows.end()) {
      *same = r;
    } else {
      g.rows.push_back(r);
    }
  }

  std::vector<Group> ordered;
  for (auto& [key, g] : groups) ordered.push_back(g);
  for (const Group& g : ordered) {
    GroupAdvice a;
    a.key = g.key;
    a.candidates = g.rows.size();
    std::vector<const ResultRow*> qualified;
    for (const ResultRow* r : g.rows) {
      if (is_baseline(*r, options.baseline) && !a.baseline) a.baseline = r;
      if (meets(*r, options)) qualified.push_back(r);
    }
    std::stable_sort(
        qualified.begin(), qualified.end(),
        [](const ResultRow* x, const ResultRow* y) { return *x->time_ms < *y->time_ms; });
    if (!qualified.empty()) {
      const ResultRow* best = qualified.front();
      for (const ResultRow* r : qualified) {
        if (r == best || ranges_overlap(*r, *best)) {
          a.winners.push_back(r);
        } else if (!a.runner_up) {
          a.runner_up = r;
        }
      }
      a.only_exact = std::all_of(qualified.begin(), qualified.end(),
                                 [](const ResultRow* r) { return attends_every_key(*r); });
    }
    advice.groups.push_back(std::move(a));
  }
  crossover_summary(ordered, advice, options);
  return advice;
}

std::vector<std::vector<std::string>> advice_table(const AdviseResult& advice) {
  std::vector<std::string> extras;
  for (const auto& c : winner_extra_columns())
    if (has_column(c)) extras.push_back(c);
  std::vector<std::vector<std::string>> table;
  std::vector<std::string> header = advice.by;
  for (const char* h : {"advice", "time_ms", "min-max ms"}) header.emplace_back(h);
  header.push_back("x " + advice.baseline);
  for (const char* h : {"mass_recall", "rel_err", "peak MiB"}) header.emplace_back(h);
  header.insert(header.end(), extras.begin(), extras.end());
  for (const char* h : {"runner-up", "runner-up ms", "note"}) header.emplace_back(h);
  table.push_back(header);

  for (const GroupAdvice& g : advice.groups) {
    std::vector<std::string> row = g.key;
    for (std::size_t i = 0; i < advice.by.size(); ++i)
      if (advice.by[i] == "seq_len" || advice.by[i] == "query_len") row[i] = format_length(row[i]);
    if (g.winners.empty()) {
      row.insert(row.end(), header.size() - row.size() - 1, "-");
      row.push_back(g.candidates == 0 ? "no ok rows"
                                      : "nothing meets the bounds (" +
                                            std::to_string(g.candidates) + " variants measured)");
      table.push_back(row);
      continue;
    }
    const ResultRow& best = *g.winners.front();
    std::string names;
    for (const ResultRow* w : g.winners) names += (names.empty() ? "" : " = ") + w->spec();
    row.push_back(names);
    row.push_back(format_ms(*best.time_ms));
    row.push_back(format_ms(low(best)) + "-" + format_ms(high(best)));
    row.push_back(g.baseline ? format("%.2f", *g.baseline->time_ms / *best.time_ms) : "-");
    row.push_back(or_dash(judged_recall(best), "%.4f"));
    row.push_back(or_dash(judged_rel_err(best), "%.2e"));
    const auto memory = judged_memory(best);
    row.push_back(
        memory ? format("%.1f", static_cast<double>(*memory) / static_cast<double>(1 << 20)) : "-");
    if (!extras.empty()) {
      const RowFields fields = row_fields(best);
      for (const auto& c : extras) {
        const auto it = fields.find(c);
        row.push_back(it == fields.end() || it->second.empty() ? "-" : it->second);
      }
    }
    row.push_back(g.runner_up ? g.runner_up->spec() : "-");
    row.push_back(g.runner_up ? format_ms(*g.runner_up->time_ms) : "-");
    std::vector<std::string> notes;
    if (g.winners.size() > 1) notes.emplace_back("tie: min-max time ranges overlap");
    if (g.only_exact) notes.emplace_back("only exact variants meet the bounds");
    std::string note;
    for (const auto& n : notes) note += (note.empty() ? "" : "; ") + n;
    row.push_back(note);
    table.push_back(row);
  }
  return table;
}

int print_advice(const AdviseRequest& request, std::ostream& out) {
  std::vector<ResultRow> rows;
  for (const auto& file : request.files) {
    auto part = read_results_csv(file);
    rows.insert(rows.end(), std::make_move_iterator(part.begin()),
                std::make_move_iterator(part.end()));
  }
  const AdviseResult advice = advise(rows, request.advise);
  const auto table = advice_table(advice);
  const std::string bounds =
      "bounds: " + (advice.bounds.empty() ? std::string("none") : advice.bounds) +
      "; baseline: " + advice.baseline + "; a tie is variants whose min-max time ranges overlap";
  if (request.format == AdviseFormat::kCsv) {
    for (const auto& row : table) {
      std::string line;
      for (std::size_t i = 0; i < row.size(); ++i) line += (i ? "," : "") + csv_escape(row[i]);
      out << line << "\n";
    }
    return 0;
  }
  if (request.format == AdviseFormat::kMarkdown) {
    for (std::size_t r = 0; r < table.size(); ++r) {
      std::string line = "|";
      for (const auto& cell : table[r]) line += " " + markdown_cell(cell) + " |";
      out << line << "\n";
      if (r == 0) {
        std::string rule = "|";
        for (std::size_t i = 0; i < table[r].size(); ++i) rule += "---|";
        out << rule << "\n";
      }
    }
    out << "\n" << bounds << "\n\n";
    for (const auto& s : advice.summary) out << "- " << s << "\n";
    return 0;
  }
  print_aligned(table, out);
  out << "\n" << bounds << "\n";
  for (const auto& s : advice.summary) out << "  " << s << "\n";
  return 0;
}

}  // namespace attn::harness
