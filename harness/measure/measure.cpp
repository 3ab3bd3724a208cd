#include "harness/measure/measure.hpp"

#include <tbb/global_control.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <vector>

#include "attention/core/registry.hpp"
#include "harness/io/machine.hpp"
#include "harness/io/npy.hpp"
#include "harness/measure/accuracy.hpp"
#include "harness/measure/inputs.hpp"
#include "harness/measure/interrupt.hpp"
#include "harness/measure/memory_counter.hpp"
#include "harness/measure/session.hpp"

namespace attn::harness {
namespace {

std::string format_bytes(std::int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1 << 30));
  return buf;
}

// The output is Q's shape, [B, H, M, D].
void save_output(const std::string& dir, const Tensor& out) {
  std::filesystem::create_directories(dir);
  const Shape& s = out.shape();
  const std::int64_t shape[] = {s.batch, s.heads, s.seq_len, s.head_dim};
  write_npy_f32((std::filesystem::path(dir) / "out.npy").string(), shape, out.data());
}

// Measures one variant; throws on failure, which the caller turns into an error row.
void measure_variant(const Variant& configured, const Point& point, const AttentionInputs& inputs,
                     const ReferenceSample& reference, const MeasureOptions& options, bool save,
                     tbb::task_arena& arena, ResultRow& row) {
  // A fresh instance per point: state a variant builds lazily and keeps (BigBird's random
  // blocks, a query-aware variant's cached selection) is then built, and counted, in every
  // point's warm-up call, so no row depends on which points ran before it.
  const std::unique_ptr<Variant> instance = make_variant(configured.spec());
  const Variant& variant = *instance;
  variant.check(point.shape, point.causal);
  Tensor out(point.shape.query_shape());
  // The first call is also the warm-up: its output is what accuracy is measured on, and its
  // heap peak above the start (the counting operator new) is the point's peak_bytes.
  const MemorySnapshot before = memory_snapshot();
  reset_memory_peak();
  arena.execute([&] { variant.forward(inputs, out.mutable_view()); });
  const std::int64_t peak_bytes = memory_snapshot().peak_bytes - before.current_bytes;
  const Accuracy accuracy = measure_accuracy(variant, inputs, out.view(), reference);
  if (save) save_output(options.save_output_dir, out);
  const std::int64_t pairs = variant.pairs(inputs);
  std::vector<double> select_ms;  // per timed forward, for query-aware variants
  const Timing timing = time_forward(
      variant.spec() + "/" + point.to_string(),
      [&] {
        arena.execute([&] { variant.forward(inputs, out.mutable_view()); });
        if (const auto ms = variant.last_select_ms()) select_ms.push_back(*ms);
      },
      options.timing);

  row.reps = timing.reps;
  row.time_ms = timing.median_ms;
  row.time_ms_min = timing.min_ms;
  row.time_ms_max = timing.max_ms;
  if (!select_ms.empty()) {
    std::nth_element(select_ms.begin(), select_ms.begin() + select_ms.size() / 2, select_ms.end());
    row.select_ms = select_ms[select_ms.size() / 2];
  }
  row.pairs = pairs;
  row.gflops = 4.0 * static_cast<double>(pairs) * static_cast<double>(point.shape.head_dim) /
               (timing.median_ms * 1e6);
  row.peak_bytes = peak_bytes;
  row.rss_delta_bytes = timing.rss_delta_bytes;
  row.rel_err = accuracy.rel_err;
  row.rel_err_kernel = accuracy.rel_err_kernel;
  row.max_abs_err = accuracy.max_abs_err;
  row.cos_sim_min = accuracy.cos_sim_min;
  row.mass_recall = accuracy.mass_recall;
  row.accuracy_rows = reference.rows_per_problem;
  row.status = kStatusOk;
}

}  // namespace

std::string Point::to_string() const {
  std::string s = shape.to_string() + (causal ? " causal" : "") + (shared_qk ? " shared-qk" : "") +
                  " input=" + input + " seed=" + std::to_string(seed) +
                  " threads=" + std::to_string(threads);
  if (scale) s += " scale=" + std::to_string(*scale);
  if (decode_steps > 0) s += " decode-steps=" + std::to_string(decode_steps);
  return s;
}

std::int64_t kv_cache_bytes(const AttentionShape& shape) {
  return checked_product(checked_product(shape.batch, shape.seq_len, "tensor bytes"),
                         shape.kv_token_bytes(), "tensor bytes");
}

std::int64_t point_tensor_bytes(const AttentionShape& shape) {
  // Q in the inputs' dtype, the output in fp32.
  const std::int64_t q_and_out = checked_product(
      shape.query_shape().elements(),
      dtype_bytes(shape.dtype) + static_cast<std::int64_t>(sizeof(float)), "tensor bytes");
  const std::int64_t kv = kv_cache_bytes(shape);
  if (kv > std::numeric_limits<std::int64_t>::max() - q_and_out)
    throw std::overflow_error("tensor bytes: size overflows 64-bit integers");
  return q_and_out + kv;
}

ResultRow point_row(const Point& point, const Variant& variant) {
  ResultRow row;
  row.variant = variant.name();
  row.params = variant.params();
  row.batch = point.shape.batch;
  row.heads = point.shape.heads;
  row.kv_heads = point.shape.kv_heads;
  row.seq_len = point.shape.seq_len;
  row.query_len = point.shape.query_len;
  row.head_dim = point.shape.head_dim;
  row.dtype = dtype_name(point.shape.dtype);
  row.kernel = variant.kernel(point.shape.dtype);
  row.kv_bytes_per_token = point.shape.kv_token_bytes();
  if (point.shape.kv_quantization != KvQuantization::kNone) {
    const std::string format(kv_quantization_name(point.shape.kv_quantization));
    row.kv_dtype = format;
    // Which paths dequantize the codes as they load, and which read the fp32 copy of the same
    // values (at fp32's bytes): the row says which it measured.
    row.kernel += variant.reads_quantized_cache(point.shape) ? " " + format + "-dequant-on-load"
                                                             : " fp32-copy-of-" + format;
  } else {
    row.kv_dtype = row.dtype;
  }
  row.causal = point.causal;
  row.shared_qk = point.shared_qk;
  row.input = point.input;
  row.seed = point.seed;
  row.scale = point.effective_scale();
  row.threads = point.threads;
  row.decode_steps = point.decode_steps;
  row.context = machine_context();
  return row;
}

void measure_point(const Point& point, const std::vector<const Variant*>& variants,
                   const MeasureOptions& options, const std::function<void(const ResultRow&)>& emit,
                   const std::function<void(const Variant&)>& before) {
  if (point.decode_steps > 0) return measure_session(point, variants, options, emit, before);
  const std::int64_t limit = options.memory_limit_bytes;
  const std::int64_t min_bytes = point_tensor_bytes(point.shape);
  // What the point holds in memory: a bf16 point keeps its inputs in fp32 as well, for the fp64
  // reference and keys() (the forward reads only the bf16 copies); a quantized cache keeps K and
  // V in fp32 beside the codes.
  AttentionShape fp32_shape = point.shape;
  fp32_shape.dtype = Dtype::kFp32;
  fp32_shape.kv_quantization = KvQuantization::kNone;
  const bool rounded_inputs =
      point.shape.dtype == Dtype::kBf16 || point.shape.kv_quantization != KvQuantization::kNone;
  const std::int64_t tensor_bytes =
      !rounded_inputs
          ? min_bytes
          : min_bytes + kv_cache_bytes(fp32_shape) +
                (point.shape.dtype == Dtype::kBf16
                     ? checked_product(point.shape.query_shape().elements(), 4, "tensor bytes")
                     : 0);
  // Every row carries the point's compulsory traffic, measured or not: it is known from the shape.
  auto base_row = [&](const Variant& v) {
    ResultRow row = point_row(point, v);
    row.min_bytes = min_bytes;
    return row;
  };
  auto emit_all = [&](const char* status, const std::string& message) {
    for (const Variant* v : variants) {
      if (before) before(*v);
      ResultRow row = base_row(*v);
      row.status = status;
      row.message = message;
      row.timestamp = utc_timestamp();
      emit(row);
    }
  };
  if (limit > 0 && tensor_bytes > limit) {
    // At decode the KV cache is nearly all of it; say so, since Q is tiny.
    const std::string kv_part =
        point.shape.square() ? "" : " (K and V " + format_bytes(kv_cache_bytes(point.shape)) + ")";
    emit_all(kStatusSkipped, "Q, K, V and the output need " + format_bytes(tensor_bytes) + kv_part +
                                 ", over the memory limit of " + format_bytes(limit));
    return;
  }

  // Each variant's predicted bytes first: when none fits, no inputs are built (at long N the
  // inputs and the fp64 reference sample alone take minutes).
  struct Decision {
    std::optional<std::int64_t> predicted_bytes;
    const char* status = nullptr;  // kStatusSkipped or kStatusError; nullptr: measure it
    std::string message;
  };
  std::vector<Decision> decisions(variants.size());
  bool any_measured = false;
  for (std::size_t i = 0; i < variants.size(); ++i) {
    Decision& d = decisions[i];
    try {
      if (std::string why = variants[i]->unsupported(point.shape, point.causal); !why.empty()) {
        d.status = kStatusSkipped;
        d.message = std::move(why);
        continue;
      }
      const Cost cost = variants[i]->cost(point.shape, point.causal, point.threads);
      d.predicted_bytes = cost.workspace_bytes;
      if (limit > 0 && tensor_bytes + cost.workspace_bytes > limit) {
        d.status = kStatusSkipped;
        d.message = "predicted " + format_bytes(tensor_bytes + cost.workspace_bytes) +
                    " (inputs, output and workspace), over the memory limit of " +
                    format_bytes(limit);
      }
    } catch (const std::exception& e) {
      d.status = kStatusError;
      d.message = e.what();
    }
    any_measured = any_measured || d.status == nullptr;
  }

  InputTensors tensors;
  Bf16Copies bf16_tensors;
  QuantizedCache quantized_cache;
  ReferenceSample reference;
  AttentionInputs inputs;
  if (any_measured) {
    try {
      tensors = make_inputs(point.input, point.shape, point.seed, point.shared_qk);
      inputs = {tensors.q.view(), tensors.k.view(), tensors.v.view(), point.causal,
                point.effective_scale()};
      reference = sample_full_attention(inputs, options.accuracy_rows, point.seed);
      if (rounded_inputs) {
        // rel_err compares with full attention over the fp32 inputs (what the model had before
        // rounding or quantizing); the mass recall weighs keys by the scores the forward saw.
        if (point.shape.dtype == Dtype::kBf16)
          bf16_tensors = make_bf16_inputs(tensors.q, tensors.k, tensors.v, inputs);
        if (point.shape.kv_quantization != KvQuantization::kNone)
          quantized_cache =
              make_quantized_cache(tensors.k, tensors.v, inputs, point.shape.kv_quantization);
        const ReferenceSample rounded =
            sample_full_attention(inputs, options.accuracy_rows, point.seed);
        reference.score_max = rounded.score_max;
        reference.score_sum = rounded.score_sum;
      }
    } catch (const std::bad_alloc&) {
      emit_all(kStatusError, "out of memory while building the inputs");
      return;
    } catch (const std::exception& e) {
      emit_all(kStatusError, std::string("building the inputs failed: ") + e.what());
      return;
    }
  }

  tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism,
                                  static_cast<std::size_t>(point.threads));
  tbb::task_arena arena(point.threads);
  bool first = true;
  for (std::size_t i = 0; i < variants.size(); ++i) {
    // Stop between measurements; the rows emitted so far are complete.
    if (interrupt_requested()) return;
    const Variant* variant = variants[i];
    const Decision& decision = decisions[i];
    if (before) before(*variant);
    ResultRow row = base_row(*variant);
    row.predicted_bytes = decision.predicted_bytes;
    if (decision.status != nullptr) {
      row.status = decision.status;
      row.message = decision.message;
    } else {
      try {
        measure_variant(*variant, point, inputs, reference, options,
                        first && !options.save_output_dir.empty(), arena, row);
      } catch (const Interrupted&) {
        return;  // abandoned: no row, so --resume measures it again
      } catch (const std::bad_alloc&) {
        row.status = kStatusError;
        row.message = "out of memory";
      } catch (const std::exception& e) {
        row.status = kStatusError;
        row.message = e.what();
      }
    }
    first = false;
    row.timestamp = utc_timestamp();
    emit(row);
  }
}

}  // namespace attn::harness
