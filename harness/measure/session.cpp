#include "harness/measure/session.hpp"

#include <tbb/global_control.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <new>
#include <stdexcept>

#include "attention/core/registry.hpp"
#include "harness/io/machine.hpp"
#include "harness/measure/accuracy.hpp"
#include "harness/measure/inputs.hpp"
#include "harness/measure/interrupt.hpp"
#include "harness/measure/memory_counter.hpp"

namespace attn::harness {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Rows [first, first + count) of every head of `t`, a view into t's storage.
template <class T>
BasicTensorView<T> rows_of(const BasicTensorView<T>& t, std::int64_t first, std::int64_t count) {
  BasicTensorView<T> view;
  view.shape = t.shape;
  view.shape.seq_len = count;
  view.data = t.data.subspan(static_cast<std::size_t>(first * t.shape.head_dim));
  view.head_stride = t.stride();
  return view;
}

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(
      std::max(0.0, std::ceil(p * static_cast<double>(values.size())) - 1.0));
  return values[std::min(rank, values.size() - 1)];
}

// One variant's session; throws on failure, which the caller turns into an error row.
void measure_variant_session(const Variant& configured, const Point& point,
                             const SessionInputs& session, const std::vector<std::int64_t>& sampled,
                             const std::vector<ReferenceSample>& references, tbb::task_arena& arena,
                             ResultRow& row) {
  const std::unique_ptr<Variant> instance = make_variant(configured.spec());
  const Variant& variant = *instance;
  const std::int64_t steps = session.steps();
  const AttentionShape& s = point.shape;
  Tensor out(Shape{s.batch, s.heads, 1, s.head_dim});

  const MemorySnapshot before = memory_snapshot();
  reset_memory_peak();
  std::unique_ptr<CacheState> state;
  const Clock::time_point prefill_start = Clock::now();
  arena.execute([&] { state = variant.start_session(session.prefill()); });
  const double prefill_ms = ms_between(prefill_start, Clock::now());

  std::vector<double> step_ms, select_ms;
  step_ms.reserve(static_cast<std::size_t>(steps));
  std::vector<Accuracy> accuracy;
  double pairs_total = 0;
  std::size_t next_sample = 0;
  for (std::int64_t t = 0; t < steps; ++t) {
    if (interrupt_requested()) throw Interrupted();
    const AttentionInputs step = session.step(t);
    Clock::time_point start, extended, done;
    arena.execute([&] {
      start = Clock::now();
      if (state) variant.extend_session(*state, step);
      extended = Clock::now();
      variant.decode_step(step, state.get(), out.mutable_view());
      done = Clock::now();
    });
    step_ms.push_back(ms_between(start, done));
    if (const auto ms = variant.last_select_ms(); ms || state)
      select_ms.push_back(ms_between(start, extended) + ms.value_or(0.0));
    pairs_total += static_cast<double>(variant.decode_pairs(step, state.get()));
    if (next_sample < sampled.size() && sampled[next_sample] == t) {
      accuracy.push_back(measure_accuracy(
          [&](std::int64_t b, std::int64_t h, std::int64_t, std::vector<AttentionTerm>& terms) {
            variant.decode_terms(step, state.get(), b, h, terms);
          },
          step, out.view(), references[next_sample]));
      ++next_sample;
    }
  }
  const AttentionInputs last = session.step(steps - 1);
  row.peak_bytes = memory_snapshot().peak_bytes - before.current_bytes;
  row.cache_bytes = variant.session_cache_bytes(last, state.get());
  row.prefill_ms = prefill_ms;
  row.reps = static_cast<int>(steps);
  row.time_ms = percentile(step_ms, 0.5);
  row.step_ms_p99 = percentile(step_ms, 0.99);
  // The spread of a typical step, not of the one that met a page fault or a preemption: ties in
  // advise are overlapping ranges.
  row.time_ms_min = percentile(step_ms, 0.1);
  row.time_ms_max = percentile(step_ms, 0.9);
  if (!select_ms.empty()) row.select_ms = percentile(select_ms, 0.5);
  const double pairs = pairs_total / static_cast<double>(steps);
  row.pairs = static_cast<std::int64_t>(std::llround(pairs));
  row.gflops = 4.0 * pairs * static_cast<double>(s.head_dim) / (*row.time_ms * 1e6);

  // Over the sampled steps: the mean, and the first and last so that error growth shows.
  double err = 0, recall = 0, kernel_err = 0, max_abs = 0, cos_min = 1;
  for (const Accuracy& a : accuracy) {
    err += a.rel_err;
    recall += a.mass_recall;
    kernel_err = std::max(kernel_err, a.rel_err_kernel);
    max_abs = std::max(max_abs, a.max_abs_err);
    cos_min = std::min(cos_min, a.cos_sim_min);
  }
  const auto count = static_cast<double>(accuracy.size());
  row.rel_err = err / count;
  row.mass_recall = recall / count;
  row.rel_err_kernel = kernel_err;
  row.max_abs_err = max_abs;
  row.cos_sim_min = cos_min;
  row.rel_err_first = accuracy.front().rel_err;
  row.rel_err_last = accuracy.back().rel_err;
  row.mass_recall_first = accuracy.front().mass_recall;
  row.mass_recall_last = accuracy.back().mass_recall;
  for (std::size_t i = 0; i < accuracy.size(); ++i) {
    char entry[96];
    std::snprintf(entry, sizeof entry, "%s%lld:%.6g:%.6g", i ? ";" : "",
                  static_cast<long long>(sampled[i]), accuracy[i].rel_err, accuracy[i].mass_recall);
    row.accuracy_by_step += entry;
  }
  row.accuracy_rows = 1;
  row.status = kStatusOk;
}

}  // namespace

AttentionShape session_input_shape(const AttentionShape& step_shape, std::int64_t steps) {
  AttentionShape s = step_shape;
  const std::int64_t window = std::min(step_shape.seq_len, kObservationQueries);
  s.seq_len = step_shape.seq_len + steps;
  s.query_len = window + steps;
  return s;
}

std::vector<std::int64_t> sampled_steps(std::int64_t steps) {
  std::vector<std::int64_t> out;
  const std::int64_t count = std::min(steps, kSampledSteps);
  for (std::int64_t i = 0; i < count; ++i)
    out.push_back(count == 1 ? 0 : i * (steps - 1) / (count - 1));
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

SessionInputs::SessionInputs(const AttentionInputs& full, std::int64_t prefill_len,
                             std::int64_t steps)
    : full_(full),
      prefill_len_(prefill_len),
      steps_(steps),
      window_(full.q.shape.seq_len - steps) {}

AttentionInputs SessionInputs::prefill() const {
  AttentionInputs in = full_;
  in.q = rows_of(full_.q, 0, window_);
  in.k = rows_of(full_.k, 0, prefill_len_);
  in.v = rows_of(full_.v, 0, prefill_len_);
  if (full_.dtype == Dtype::kBf16) {
    in.q16 = rows_of(full_.q16, 0, window_);
    in.k16 = rows_of(full_.k16, 0, prefill_len_);
    in.v16 = rows_of(full_.v16, 0, prefill_len_);
  }
  if (full_.quantized_cache()) {
    in.kq = full_.kq.first_rows(prefill_len_);
    in.vq = full_.vq.first_rows(prefill_len_);
  }
  return in;
}

AttentionInputs SessionInputs::step(std::int64_t t) const {
  AttentionInputs in = full_;
  const std::int64_t keys = prefill_len_ + t + 1;
  in.q = rows_of(full_.q, window_ + t, 1);
  in.k = rows_of(full_.k, 0, keys);
  in.v = rows_of(full_.v, 0, keys);
  if (full_.dtype == Dtype::kBf16) {
    in.q16 = rows_of(full_.q16, window_ + t, 1);
    in.k16 = rows_of(full_.k16, 0, keys);
    in.v16 = rows_of(full_.v16, 0, keys);
  }
  if (full_.quantized_cache()) {
    in.kq = full_.kq.first_rows(keys);
    in.vq = full_.vq.first_rows(keys);
  }
  return in;
}

void measure_session(const Point& point, const std::vector<const Variant*>& variants,
                     const MeasureOptions& options,
                     const std::function<void(const ResultRow&)>& emit,
                     const std::function<void(const Variant&)>& before) {
  const std::int64_t steps = point.decode_steps;
  const AttentionShape input_shape = session_input_shape(point.shape, steps);
  AttentionShape final_shape = point.shape;
  final_shape.seq_len += steps;
  const std::int64_t min_bytes = point_tensor_bytes(final_shape);
  // The inputs in fp32, and for bf16 or a quantized cache their copies beside them.
  AttentionShape fp32_shape = input_shape;
  fp32_shape.dtype = Dtype::kFp32;
  fp32_shape.kv_quantization = KvQuantization::kNone;
  const KvQuantization quantization = point.shape.kv_quantization;
  const std::int64_t tensor_bytes =
      point_tensor_bytes(fp32_shape) +
      (point.shape.dtype == Dtype::kBf16 ? point_tensor_bytes(input_shape) : 0) +
      (quantization != KvQuantization::kNone ? kv_cache_bytes(input_shape) : 0);

  auto base_row = [&](const Variant& v) {
    ResultRow row = point_row(point, v);
    row.min_bytes = min_bytes;
    return row;
  };
  auto emit_row = [&](const Variant& v, const char* status, const std::string& message) {
    ResultRow row = base_row(v);
    row.status = status;
    row.message = message;
    row.timestamp = utc_timestamp();
    emit(row);
  };
  const std::int64_t limit = options.memory_limit_bytes;
  if (limit > 0 && tensor_bytes > limit) {
    for (const Variant* v : variants) {
      if (before) before(*v);
      emit_row(*v, kStatusSkipped,
               "the session's Q, K and V need " + std::to_string(tensor_bytes >> 20) +
                   " MiB, over the memory limit of " + std::to_string(limit >> 20) + " MiB");
    }
    return;
  }

  InputTensors tensors;
  Bf16Copies bf16_tensors;
  QuantizedCache quantized_cache;
  AttentionInputs full;
  std::vector<std::int64_t> sampled = sampled_steps(steps);
  std::vector<ReferenceSample> references;
  // Captured inputs hold every query the files have; the session reads the last W + T of them.
  const auto trim_queries = [&](AttentionInputs& in) {
    const std::int64_t extra = in.q.shape.seq_len - input_shape.query_len;
    if (extra <= 0) return;
    in.q = rows_of(in.q, extra, input_shape.query_len);
    if (in.dtype == Dtype::kBf16) in.q16 = rows_of(in.q16, extra, input_shape.query_len);
  };
  try {
    tensors = make_inputs(point.input, input_shape, point.seed, false);
    if (tensors.k.shape() != input_shape.kv_shape())
      throw std::invalid_argument("the files hold K " + tensors.k.shape().to_string() +
                                  ", the session needs " + input_shape.kv_shape().to_string());
    full = {tensors.q.view(), tensors.k.view(), tensors.v.view(), point.causal,
            point.effective_scale()};
    trim_queries(full);
    const SessionInputs fp32_session(full, point.shape.seq_len, steps);
    for (const std::int64_t t : sampled)
      references.push_back(sample_full_attention(fp32_session.step(t), 1, point.seed));
    if (point.shape.dtype == Dtype::kBf16 || quantization != KvQuantization::kNone) {
      // As for a single forward: rel_err against the fp32 cache, the mass recall weighed by the
      // scores the steps saw. fp8's scales are calibrated on the N cached tokens; the appended
      // ones are quantized with them (int8's per-token scales need no calibration).
      if (point.shape.dtype == Dtype::kBf16) {
        bf16_tensors = make_bf16_inputs(tensors.q, tensors.k, tensors.v, full);
        trim_queries(full);
      }
      if (quantization != KvQuantization::kNone)
        quantized_cache =
            make_quantized_cache(tensors.k, tensors.v, full, quantization, point.shape.seq_len);
      const SessionInputs rounded(full, point.shape.seq_len, steps);
      for (std::size_t i = 0; i < sampled.size(); ++i) {
        const ReferenceSample r = sample_full_attention(rounded.step(sampled[i]), 1, point.seed);
        references[i].score_max = r.score_max;
        references[i].score_sum = r.score_sum;
      }
    }
  } catch (const std::bad_alloc&) {
    for (const Variant* v : variants)
      emit_row(*v, kStatusError, "out of memory while building the inputs");
    return;
  } catch (const std::exception& e) {
    for (const Variant* v : variants)
      emit_row(*v, kStatusError, std::string("building the inputs failed: ") + e.what());
    return;
  }
  const SessionInputs session(full, point.shape.seq_len, steps);

  tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism,
                                  static_cast<std::size_t>(point.threads));
  tbb::task_arena arena(point.threads);
  for (const Variant* variant : variants) {
    if (interrupt_requested()) return;
    if (before) before(*variant);
    ResultRow row = base_row(*variant);
    try {
      if (std::string why = variant->unsupported(point.shape, point.causal); !why.empty()) {
        row.status = kStatusSkipped;
        row.message = std::move(why);
      } else {
        // Every step's cache must be one the parameters serve: the first is the shortest.
        AttentionShape first_shape = point.shape;
        first_shape.seq_len += 1;
        variant->check(first_shape, point.causal);
        variant->check(final_shape, point.causal);
        measure_variant_session(*variant, point, session, sampled, references, arena, row);
      }
    } catch (const Interrupted&) {
      return;  // abandoned: no row, so --resume measures it again
    } catch (const std::bad_alloc&) {
      row = base_row(*variant);
      row.status = kStatusError;
      row.message = "out of memory";
    } catch (const std::exception& e) {
      row = base_row(*variant);
      row.status = kStatusError;
      row.message = e.what();
    }
    row.timestamp = utc_timestamp();
    emit(row);
  }
}

}  // namespace attn::harness
