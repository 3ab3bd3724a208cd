#include "harness/cli/commands.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <set>

#include "attention/core/registry.hpp"
#include "attention/numeric/microkernel.hpp"
#include "harness/analysis/compare.hpp"
#include "harness/analysis/report.hpp"
#include "harness/cli/progress.hpp"
#include "harness/io/cpu_identity.hpp"
#include "harness/io/csv.hpp"
#include "harness/io/machine.hpp"
#include "harness/io/npy.hpp"
#include "harness/measure/inputs.hpp"
#include "harness/measure/interrupt.hpp"
#include "harness/sweep/sweep_plan.hpp"

namespace attn::harness {
namespace {

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

std::string fixed(double v, const char* format) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}
template <class T>
std::string fixed(const std::optional<T>& v, const char* format, double divisor = 1) {
  return v ? fixed(static_cast<double>(*v) / divisor, format) : "-";
}

// min_bytes / time: the rate at which the forward moved its compulsory traffic, the figure to
// hold against the memory bandwidth at decode, where GFLOP/s says little.
std::optional<double> gigabytes_per_second(const ResultRow& r) {
  if (!r.min_bytes || !r.time_ms || *r.time_ms <= 0) return std::nullopt;
  return static_cast<double>(*r.min_bytes) / (*r.time_ms * 1e6);
}

void print_table(const std::vector<ResultRow>& rows, std::ostream& out) {
  out << pad("variant", 44) << pad("N", 9) << pad("dtype", 6) << pad("time ms", 11)
      << pad("min-max ms", 20) << pad("select ms", 11) << pad("GFLOP/s", 9) << pad("GB/s", 9)
      << pad("peak MiB", 10) << pad("rel_err", 11) << pad("rel_err_k", 11) << pad("recall", 8)
      << "status\n";
  for (const ResultRow& r : rows) {
    out << pad(r.spec(), 43) << ' ' << pad(std::to_string(r.seq_len), 9) << pad(r.dtype, 6)
        << pad(fixed(r.time_ms, "%.3f"), 11)
        << pad(fixed(r.time_ms_min, "%.3f") + "-" + fixed(r.time_ms_max, "%.3f"), 20)
        << pad(fixed(r.select_ms, "%.3f"), 11) << pad(fixed(r.gflops, "%.1f"), 9)
        << pad(fixed(gigabytes_per_second(r), "%.2f"), 9)
        << pad(fixed(r.peak_bytes, "%.1f", 1 << 20), 10) << pad(fixed(r.rel_err, "%.2e"), 11)
        << pad(fixed(r.rel_err_kernel, "%.2e"), 11) << pad(fixed(r.mass_recall, "%.4f"), 8)
        << r.status << (r.message.empty() ? "" : ": " + r.message) << "\n";
  }
}

std::string python_interpreter() {
  // The system interpreter carries the distribution's matplotlib.
  return std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

int draw_plots(const std::string& csv) {
  const std::string command = python_interpreter() + " '" + ATTN_PLOT_SCRIPT + "' '" + csv + "'";
  std::fprintf(stderr, "plotting: %s\n", command.c_str());
  const int status = std::system(command.c_str());
  if (status != 0) {
    std::fprintf(stderr, "attnbench: the plot script failed (status %d); the CSV is complete\n",
                 status);
    return 1;
  }
  return 0;
}

}  // namespace

int list_variants(std::ostream& out) {
  for (const auto* entry : Registry::instance().entries()) {
    out << entry->info.name;
    for (const ParamInfo& p : entry->info.params)
      out << "  " << p.key << '=' << p.format(p.default_value) << " [" << p.format(p.min) << ", "
          << p.format(p.max) << "]";
    out << "  -- " << entry->info.summary << "\n";
  }
  // The block engine's kernel path per dtype on this CPU (the CSV's `kernel` column).
  out << "\nkernel paths: fp32 " << kernel::path_name(Dtype::kFp32) << ", bf16 "
      << kernel::path_name(Dtype::kBf16) << " (" << kernel::cpu_bf16_support() << ")\n"
      << "  " << (kernel::path_forced() ? "forced by ATTN_KERNEL_PATH" : "chosen for this CPU")
      << "; this CPU can run:";
  for (const std::string& path : kernel::runnable_paths()) out << ' ' << path;
  out << " (ATTN_KERNEL_PATH=<path> forces one; ATTN_BF16_DOT=widening|pairs|vdpbf16ps|amx the "
         "bf16 "
         "dot product)\n"
      << "kv caches (--kv-dtype): fp32, bf16, int8 (a scale per token and head), fp8 E4M3 (a "
         "scale per head), the 8-bit ones dequantized on load by the "
      << kernel::path_name(Dtype::kFp32) << " kernels\n";
  // The CPU as the CSV's machine columns name it (cpu, cpu_uarch, cpu_family_model, cpu_vendor,
  // cpu_isa).
  const MachineContext& machine = machine_context();
  out << "cpu: " << cpu_title(machine.cpu, machine.cpu_uarch, machine.cpu_family_model)
      << ", vendor " << machine.cpu_vendor << ", ISA "
      << (machine.cpu_isa.empty() ? "(none of the kernels' features)" : machine.cpu_isa) << "\n";
  return 0;
}

int run_sweep(const SweepConfig& config) {
  const SweepPlan sweep_plan = make_sweep_plan(config, config.shard.num_shards);
  if (config.plan) {
    print_plan(sweep_plan, config.measure.timing, config.shard.index, std::cout);
    return 0;
  }
  // Which (point, variant) items this process measures: all, or its shard's.
  std::set<std::pair<std::size_t, std::size_t>> mine;
  for (std::size_t i = 0; i < sweep_plan.items.size(); ++i)
    if (!config.shard.sharded() || sweep_plan.shard_of[i] == config.shard.index)
      mine.emplace(sweep_plan.items[i].point, sweep_plan.items[i].variant);
  const std::vector<Point>& points = sweep_plan.points;
  if (config.shard.sharded())
    std::fprintf(stderr, "shard %s (index from %s): %zu of %zu items\n",
                 config.shard.label().c_str(), config.shard.index_source.c_str(), mine.size(),
                 sweep_plan.items.size());

  // Installed before the CSV is touched: from here on SIGINT and SIGTERM stop cleanly.
  const InterruptGuard interrupt_guard;

  // What identifies a measurement for --resume: everything in the row but the results, the
  // same key compare joins on.
  std::set<ResultKey> finished;
  if (config.resume && std::filesystem::exists(config.out))
    for (const ResultRow& r : read_results_csv(config.out))
      if (r.status == kStatusOk) finished.insert(result_key(r));

  std::unique_ptr<CsvWriter> writer;
  if (!config.out.empty()) {
    writer = std::make_unique<CsvWriter>(config.out);
    if (writer->dropped_torn_bytes() > 0)
      std::fprintf(stderr,
                   "warning: %s ended in a torn row (%zu bytes without a newline: a write cut "
                   "short by a kill); it was removed, --resume measures that point again\n",
                   config.out.c_str(), writer->dropped_torn_bytes());
  }

  // Work estimates for the ETA, and the plan after --resume.
  auto work_of = [](const Variant& v, const Point& p) {
    return static_cast<double>(v.cost(p.shape, p.causal, p.threads).pairs) *
           static_cast<double>(p.shape.head_dim);
  };
  std::vector<std::pair<Point, std::vector<const Variant*>>> plan;
  std::int64_t total_rows = 0;
  double total_work = 0;
  for (std::size_t pi = 0; pi < points.size(); ++pi) {
    const Point& p = points[pi];
    std::vector<const Variant*> todo;
    for (std::size_t vi = 0; vi < sweep_plan.variants.size(); ++vi) {
      const Variant* v = sweep_plan.variants[vi].get();
      if (!mine.count({pi, vi}) || finished.count(result_key(point_row(p, *v)))) continue;
      todo.push_back(v);
      total_work += work_of(*v, p);
    }
    total_rows += static_cast<std::int64_t>(todo.size());
    if (!todo.empty()) plan.emplace_back(p, std::move(todo));
  }
  if (config.resume)
    std::fprintf(stderr, "resume: %zu rows already done, %lld to measure\n", finished.size(),
                 static_cast<long long>(total_rows));
  {
    std::vector<std::size_t> todo_items;
    for (std::size_t i = 0; i < sweep_plan.items.size(); ++i) {
      const SweepItem& item = sweep_plan.items[i];
      if (mine.count({item.point, item.variant}) &&
          !finished.count(
              result_key(point_row(sweep_plan.point_of(item), sweep_plan.variant_of(item)))))
        todo_items.push_back(i);
    }
    std::fprintf(
        stderr,
        "sweep: %lld items, predicted %s (rough: 50 GFLOP/s per thread for attention, "
        "1 GFLOP/s for the fp64 accuracy sample; the progress line's ETA corrects it)\n",
        static_cast<long long>(total_rows),
        format_seconds(predicted_sweep_seconds(sweep_plan, todo_items, config.measure)).c_str());
  }

  Progress progress(total_rows, total_work);
  std::vector<ResultRow> rows;
  int failures = 0;
  // Named references rather than a structured binding: clang 14 cannot capture bindings.
  for (const auto& step : plan) {
    const Point& point = step.first;
    const std::vector<const Variant*>& todo = step.second;
    if (interrupt_requested()) break;
    const Variant* current = nullptr;
    measure_point(
        point, todo, config.measure,
        [&](const ResultRow& measured) {
          ResultRow row = measured;
          row.shard = config.shard.label();
          row.job_id = config.job_id;
          if (writer) writer->write(row);
          rows.push_back(row);
          if (row.status == kStatusError) {
            ++failures;
            std::fprintf(stderr, "  error: %s\n", row.message.c_str());
          } else if (row.status == kStatusSkipped) {
            std::fprintf(stderr, "  skipped: %s\n", row.message.c_str());
          }
          progress.finish(work_of(*current, point));
        },
        [&](const Variant& v) {
          current = &v;
          progress.start(v.spec() + " " + point.to_string());
        });
  }

  if (!writer) print_table(rows, std::cout);
  if (interrupt_requested()) {
    std::fprintf(stderr, "attnbench: stopped by %s after %zu of %lld rows", interrupt_signal_name(),
                 rows.size(), static_cast<long long>(total_rows));
    if (writer && !config.resume_command.empty()) {
      std::fprintf(stderr, "; they are in %s. To measure the rest, run:\n  %s\n",
                   config.out.c_str(), config.resume_command.c_str());
    } else if (writer) {
      std::fprintf(stderr, "; they are in %s\n", config.out.c_str());
    } else {
      std::fprintf(stderr, "\n");
    }
    return interrupted_exit_status();
  }
  if (writer) std::fprintf(stderr, "wrote %zu rows to %s\n", rows.size(), config.out.c_str());
  int status = failures > 0 ? 1 : 0;
  if (config.plot && writer && draw_plots(config.out) != 0) status = 1;
  if (!config.report.empty() && writer) {
    ReportRequest request;
    request.files = {config.out};
    request.out = config.report;
    request.command = config.command_line;
    if (write_report(request) != 0) status = 1;
  }
  return status;
}

int export_pattern(const PatternConfig& config) {
  const auto variant = make_variant(config.variant_spec);
  const Point& p = config.point;
  const InputTensors tensors = make_inputs(p.input, p.shape, p.seed, p.shared_qk);
  const AttentionInputs inputs{tensors.q.view(), tensors.k.view(), tensors.v.view(), p.causal,
                               p.effective_scale()};
  // [H, M, N]: row q of head h is the query at absolute position N - M + q.
  const std::int64_t n = p.shape.seq_len, m = p.shape.query_len, heads = p.shape.heads;
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(heads * m * n), 0);
  std::vector<std::int64_t> keys;
  for (std::int64_t h = 0; h < heads; ++h)
    for (std::int64_t q = 0; q < m; ++q) {
      variant->keys(inputs, 0, h, q, keys);
      for (std::int64_t k : keys) mask[static_cast<std::size_t>((h * m + q) * n + k)] = 1;
    }
  const std::int64_t shape[] = {heads, m, n};
  write_npy_u8(config.save, shape, mask);
  std::fprintf(stderr, "wrote the key set of %s (%s) to %s\n", variant->spec().c_str(),
               p.to_string().c_str(), config.save.c_str());
  return 0;
}

}  // namespace attn::harness
