#include "harness/cli/options.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "attention/core/registry.hpp"
#include "harness/io/machine.hpp"
#include "harness/io/shell_word.hpp"
#include "harness/measure/inputs.hpp"

namespace po = boost::program_options;

namespace attn::harness {
namespace {

constexpr std::int64_t kMaxSeqLen = std::int64_t{1} << 26;
constexpr std::int64_t kMaxDecodeSteps = std::int64_t{1} << 20;
constexpr std::int64_t kMaxHeadDim = 512;
constexpr int kMaxThreads = 256;

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::vector<std::string> split_list(const std::string& option, const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) items.push_back(trim(item));
  if (!text.empty() && text.back() == ',') items.emplace_back();
  if (items.empty() || std::any_of(items.begin(), items.end(), [](auto& s) { return s.empty(); }))
    throw UsageError("--" + option + ": '" + text +
                     "' is not a comma-separated list of values (empty item)");
  return items;
}

// --input's list: a captured input's own options (safetensors:DIR,layer=3,heads=0-7) stay
// with it, so an item of the form key=value continues the item before it.
std::vector<std::string> split_inputs(const std::string& text) {
  std::vector<std::string> items;
  for (auto& item : split_list("input", text)) {
    if (!items.empty() && item.find('=') != std::string::npos &&
        item.find(':') == std::string::npos)
      items.back() += "," + item;
    else
      items.push_back(std::move(item));
  }
  return items;
}

// "4096", "4K" (×1024) or "1M" (×1024²).
bool parse_scaled_integer(std::string text, std::int64_t& value) {
  std::int64_t factor = 1;
  if (!text.empty()) {
    const char last = static_cast<char>(std::toupper(static_cast<unsigned char>(text.back())));
    if (last == 'K') factor = 1 << 10;
    if (last == 'M') factor = 1 << 20;
    if (last == 'G') factor = 1 << 30;
    if (factor != 1) text.pop_back();
  }
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) return false;
  if (v != 0 && std::llabs(v) > std::numeric_limits<std::int64_t>::max() / factor) return false;
  value = v * factor;
  return true;
}

// Options shared by run, sweep and pattern. In `run` each takes one value; in `sweep` the
// numeric ones and --input take comma-separated lists.
struct RawOptions {
  std::vector<std::string> variants;
  std::string seq_len = "4096", batch = "1", heads = "8", head_dim = "64";
  std::string kv_heads, query_len;  // empty: the default, heads and seq_len
  std::string decode_steps = "0";
  std::string dtype, kv_dtype;  // empty: fp32, and the cache in the forward's dtype
  std::string causal = "false", shared_qk = "false", input = "gaussian", seed = "0";
  std::string threads = std::to_string(available_cores());
  std::string scale, reps = "5", min_time = "0.2", accuracy_rows = "256", memory_limit;
  std::string out, save_output, config, save, report;
  std::string num_shards, shard_index;
  bool plot = false, resume = false, plan = false;
};

// --dtype or --kv-dtype as the points' precisions. --kv-dtype names the cache: fp32 and bf16
// are the unquantized caches of those forwards, int8 and fp8 dequantize to an fp32 forward; so
// the two options are one axis and only one of them may be given.
std::vector<SweepConfig::Precision> parse_precisions(const std::string& dtype,
                                                     const std::string& kv_dtype, bool single) {
  const std::string option = kv_dtype.empty() ? "dtype" : "kv-dtype";
  const std::string& text = kv_dtype.empty() ? (dtype.empty() ? "fp32" : dtype) : kv_dtype;
  const std::string allowed = kv_dtype.empty() ? "fp32, bf16" : "fp32, bf16, int8, fp8";
  if (!dtype.empty() && !kv_dtype.empty())
    throw UsageError("--dtype " + dtype + " with --kv-dtype " + kv_dtype +
                     ": give one of them; --kv-dtype fp32 and bf16 are the caches of those "
                     "forwards, int8 and fp8 dequantize to an fp32 forward");
  if (single && text.find(',') != std::string::npos)
    throw UsageError("--" + option + " takes one value here, got '" + text +
                     "'; allowed: " + allowed);
  std::vector<SweepConfig::Precision> out;
  for (const std::string& raw_name :
       single ? std::vector<std::string>{text} : split_list(option, text)) {
    const std::string name = trim(raw_name);
    if (!kv_dtype.empty() && (name == "int8" || name == "fp8")) {
      out.push_back({Dtype::kFp32, name == "int8" ? KvQuantization::kInt8 : KvQuantization::kFp8});
      continue;
    }
    try {
      out.push_back({parse_dtype(name), KvQuantization::kNone});
    } catch (const std::invalid_argument& e) {
      if (kv_dtype.empty()) throw UsageError(e.what());
      throw UsageError("--kv-dtype: unknown value '" + name + "'; allowed: " + allowed);
    }
  }
  return out;
}

// What --variant and --heads mean differs by command: run and sweep measure several variants
// over 8 heads by default, pattern exports exactly one variant's key set over 1 head.
enum class PointCommand { kMeasure, kPattern };

po::options_description point_options(RawOptions& raw, bool lists,
                                      PointCommand command = PointCommand::kMeasure) {
  const std::string list = lists ? " (comma-separated list)" : "";
  const bool pattern = command == PointCommand::kPattern;
  po::options_description d("Point options");
  d.add_options()("variant", po::value(&raw.variants)->value_name("SPEC"),
                  pattern
                      ? "the one variant spec whose key set is exported, e.g. bigbird:block=64 "
                        "(required; see 'attnbench list')"
                      : "variant spec, e.g. sliding_window:left=128,right=0; repeat for several "
                        "(default: every registered variant with its default parameters; see "
                        "'attnbench list')")(
      "seq-len", po::value(&raw.seq_len)->value_name("N"),
      ("sequence length N, 4K and 1M suffixes allowed (default 4096)" + list).c_str())(
      "batch", po::value(&raw.batch)->value_name("B"), ("batch size (default 1)" + list).c_str())(
      "heads", po::value(&raw.heads)->value_name("H"),
      ("query heads (default " + raw.heads + ")" + list).c_str())(
      "kv-heads", po::value(&raw.kv_heads)->value_name("KV"),
      ("key/value heads, a divisor of --heads: query head h reads kv head h / (H / KV), "
       "grouped-query attention (default: --heads, one kv head per query head)" +
       list)
          .c_str())(
      "query-len", po::value(&raw.query_len)->value_name("M"),
      ("queries M, 1 to --seq-len: the last M of the N positions, e.g. 1 for a decode step "
       "over a KV cache of N keys; 4K and 1M suffixes allowed (default: --seq-len)" +
       list)
          .c_str())("decode-steps", po::value(&raw.decode_steps)->value_name("T"),
                    ("a decode session: load --seq-len cached tokens, then T steps, each "
                     "appending one token and attending with its query; per-step latency, cache "
                     "bytes and accuracy at sampled steps (default 0: a single forward)" +
                     list)
                        .c_str())("head-dim", po::value(&raw.head_dim)->value_name("D"),
                                  ("head dimension, 1 to 512 (default 64)" + list).c_str())(
      "dtype", po::value(&raw.dtype)->value_name("T"),
      ("element type Q, K and V are stored in: fp32 or bf16 (rounded to nearest even from the "
       "generated or loaded fp32 values; default fp32)" +
       list)
          .c_str())(
      "kv-dtype", po::value(&raw.kv_dtype)->value_name("T"),
      ("the KV cache's format instead of --dtype: fp32 or bf16 (the unquantized cache of that "
       "forward), int8 (symmetric, one scale per token and head) or fp8 (E4M3, one scale per "
       "head from the cached tokens), dequantized to an fp32 forward as the kernels load them" +
       list)
          .c_str())("causal", po::value(&raw.causal)->value_name("BOOL")->implicit_value("true"),
                    ("causal masking: --causal alone means true (default false)" + list).c_str())(
      "shared-qk", po::value(&raw.shared_qk)->value_name("BOOL")->implicit_value("true"),
      ("Reformer's shared query-key setting: K is the row-normalised Q, for every variant "
       "(default false)" +
       list)
          .c_str())("scale", po::value(&raw.scale)->value_name("S"),
                    "score scale (default 1/sqrt(head-dim))")(
      "input", po::value(&raw.input)->value_name("GEN"),
      ("input: gaussian, local, clustered, sinks, lm, or tensors captured from a model: npy:DIR "
       "with DIR/q.npy, k.npy, v.npy, or safetensors:DIR[,layer=L][,heads=A-B] (default "
       "gaussian)" +
       list)
          .c_str())(
      "seed", po::value(&raw.seed)->value_name("S"),
      ("seed of the input generator and of the accuracy sample (default 0)" + list).c_str())(
      "threads", po::value(&raw.threads)->value_name("T"),
      ("worker threads (default: all cores, here " + std::to_string(available_cores()) + ")" + list)
          .c_str());
  return d;
}

po::options_description measure_options(RawOptions& raw) {
  po::options_description d("Measurement options");
  d.add_options()("reps", po::value(&raw.reps)->value_name("R"),
                  "timed repetitions; the median, min and max go in the CSV (default 5)")(
      "min-time", po::value(&raw.min_time)->value_name("SEC"),
      "minimum seconds per repetition; fast points repeat the forward within it (default 0.2)")(
      "accuracy-rows", po::value(&raw.accuracy_rows)->value_name("ROWS"),
      "query rows per (batch, head) sampled for the fp64 accuracy reference; all M rows when "
      "the point has fewer queries (default 256)")(
      "memory-limit", po::value(&raw.memory_limit)->value_name("BYTES"),
      "skip points predicted to need more, e.g. 12G (default 80% of the available memory)")(
      "out", po::value(&raw.out)->value_name("FILE.csv"), "append rows to this CSV file");
  return d;
}

std::int64_t one_int(const std::string& option, const std::string& text, std::int64_t min,
                     std::int64_t max) {
  const auto values = parse_int_list(option, text, min, max);
  if (values.size() != 1)
    throw UsageError("--" + option + " takes one value here, got '" + text +
                     "'; lists are for 'attnbench sweep'");
  return values[0];
}

double parse_positive_real(const std::string& option, const std::string& text, double max) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v) ||
      v <= 0 || v > max) {
    std::ostringstream msg;
    msg << "--" << option << " must be a number in (0, " << max << "], got '" << text << "'";
    throw UsageError(msg.str());
  }
  return v;
}

// Parses args (and the config file, whose values the command line overrides).
bool parse_into(const std::vector<std::string>& args, const po::options_description& visible,
                const std::string& usage, std::string& help, bool allow_config,
                po::variables_map& vm, std::string* config_path) {
  po::options_description all = visible;
  all.add_options()("help,h", "show this help");
  try {
    po::store(po::command_line_parser(args).options(all).run(), vm);
    if (vm.count("help")) {
      std::ostringstream text;
      text << usage << "\n\n" << visible;
      help = text.str();
      return false;
    }
    if (allow_config && vm.count("config")) {
      *config_path = vm["config"].as<std::string>();
      std::error_code ec;
      if (!std::filesystem::is_regular_file(*config_path, ec))
        throw UsageError("--config: '" + *config_path + "' is not a readable file");
      std::ifstream file(*config_path);
      if (!file) throw UsageError("--config: cannot read '" + *config_path + "'");
      po::store(po::parse_config_file(file, visible), vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::string where = config_path && !config_path->empty() ? " (in " + *config_path + ")" : "";
    throw UsageError(std::string(e.what()) + where + "; see --help");
  }
  return true;
}

SweepConfig build_config(const RawOptions& raw, bool single) {
  SweepConfig c;
  auto ints = [&](const char* option, const std::string& text, std::int64_t min, std::int64_t max) {
    return single ? std::vector<std::int64_t>{one_int(option, text, min, max)}
                  : parse_int_list(option, text, min, max);
  };
  auto bools = [&](const char* option, const std::string& text) {
    auto v = parse_bool_list(option, text);
    if (single && v.size() != 1)
      throw UsageError(std::string("--") + option + " takes one value here, got '" + text + "'");
    return v;
  };
  c.variant_specs = raw.variants;
  if (c.variant_specs.empty())
    for (const auto* e : Registry::instance().entries()) c.variant_specs.push_back(e->info.name);
  for (const auto& spec : c.variant_specs) {
    try {
      make_variant(spec);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--variant: ") + e.what());
    }
  }
  c.seq_lens = ints("seq-len", raw.seq_len, 1, kMaxSeqLen);
  c.batches = ints("batch", raw.batch, 1, 1 << 20);
  c.heads = ints("heads", raw.heads, 1, 1 << 20);
  c.head_dims = ints("head-dim", raw.head_dim, 1, kMaxHeadDim);
  c.kv_heads = raw.kv_heads.empty() ? std::vector<std::int64_t>{0}
                                    : ints("kv-heads", raw.kv_heads, 1, 1 << 20);
  c.query_lens = raw.query_len.empty() ? std::vector<std::int64_t>{0}
                                       : ints("query-len", raw.query_len, 1, kMaxSeqLen);
  c.precisions = parse_precisions(raw.dtype, raw.kv_dtype, single);
  c.causal = bools("causal", raw.causal);
  c.shared_qk = bools("shared-qk", raw.shared_qk);
  c.inputs = single ? std::vector<std::string>{raw.input} : split_inputs(raw.input);
  for (const auto& input : c.inputs) {
    try {
      check_input_name(input);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--input: ") + e.what());
    }
  }
  const bool quantized = std::any_of(c.precisions.begin(), c.precisions.end(),
                                     [](const auto& p) { return p.kv != KvQuantization::kNone; });
  if (quantized && std::find(c.shared_qk.begin(), c.shared_qk.end(), 1) != c.shared_qk.end())
    throw UsageError(
        "--shared-qk with a quantized --kv-dtype: shared QK makes K the normalised Q, which a "
        "quantized cache would change too; allowed: --kv-dtype fp32 or bf16, or --shared-qk false");
  c.decode_steps = ints("decode-steps", raw.decode_steps, 0, kMaxDecodeSteps);
  if (std::any_of(c.decode_steps.begin(), c.decode_steps.end(), [](auto t) { return t > 0; })) {
    if (!raw.query_len.empty() && c.query_lens != std::vector<std::int64_t>{1})
      throw UsageError("--query-len " + raw.query_len +
                       " with --decode-steps: a session's steps are single queries; allowed: "
                       "--query-len 1, or leave it out");
    if (std::find(c.shared_qk.begin(), c.shared_qk.end(), 1) != c.shared_qk.end())
      throw UsageError(
          "--shared-qk with --decode-steps: shared QK needs as many queries as keys, a session "
          "steps one query at a time; allowed: --shared-qk false");
  }
  for (auto s : ints("seed", raw.seed, 0, std::numeric_limits<std::int64_t>::max()))
    c.seeds.push_back(static_cast<std::uint64_t>(s));
  for (auto t : ints("threads", raw.threads, 1, kMaxThreads))
    c.threads.push_back(static_cast<int>(t));
  if (!raw.scale.empty())
    c.scale = static_cast<float>(parse_positive_real("scale", raw.scale, 1e30));
  c.measure.timing.reps = static_cast<int>(one_int("reps", raw.reps, 1, 1000));
  c.measure.timing.min_time = parse_positive_real("min-time", raw.min_time, 3600);
  c.measure.accuracy_rows = one_int("accuracy-rows", raw.accuracy_rows, 1, kMaxSeqLen);
  c.measure.memory_limit_bytes = raw.memory_limit.empty()
                                     ? available_memory_bytes() / 10 * 8
                                     : parse_bytes("memory-limit", raw.memory_limit);
  c.measure.save_output_dir = raw.save_output;
  if (std::error_code ec; !raw.save_output.empty() &&
                          std::filesystem::exists(raw.save_output, ec) &&
                          !std::filesystem::is_directory(raw.save_output, ec))
    throw UsageError("--save-output: '" + raw.save_output +
                     "' exists and is not a directory; give a directory for out.npy");
  c.out = raw.out;
  c.plot = raw.plot;
  c.resume = raw.resume;
  return c;
}

// Captured inputs fix the shape; shape options that disagree with the files are an error.
void apply_captured_shapes(SweepConfig& c, const po::variables_map& vm) {
  for (const auto& input : c.inputs) {
    if (!is_captured_input(input)) continue;
    AttentionShape s;
    try {
      s = captured_input_shape(input);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--input ") + input + ": " + e.what());
    }
    auto agree = [&](const char* option, std::vector<std::int64_t>& values, std::int64_t v) {
      if (vm.count(option) && !vm[option].defaulted() && values != std::vector{v})
        throw UsageError(std::string("--") + option + " disagrees with the shape " + s.to_string() +
                         " of the tensors of --input " + input +
                         "; leave it out, the files set it");
      values = {v};
    };
    if (c.inputs.size() != 1)
      throw UsageError("--input " + input +
                       ": captured tensors cannot be combined with other inputs in one sweep");
    const bool session =
        std::any_of(c.decode_steps.begin(), c.decode_steps.end(), [](auto t) { return t > 0; });
    if (session) {
      // The files hold the whole session: the cache is every position but the last T, which the
      // steps append, and the captured Q's last rows are the observation window and the T step
      // queries.
      if (c.decode_steps.size() != 1)
        throw UsageError("--decode-steps with --input " + input +
                         ": the files fix the session's length; give one number of steps");
      const std::int64_t steps = c.decode_steps[0];
      const auto fits = [&](std::int64_t t) {
        const std::int64_t cached = s.seq_len - t;
        return cached >= 1 && s.query_len >= std::min<std::int64_t>(cached, 64) + t;
      };
      if (!fits(steps)) {
        std::int64_t most = std::min(s.seq_len - 1, s.query_len);
        while (most > 0 && !fits(most)) --most;
        throw UsageError("--decode-steps " + std::to_string(steps) + " with --input " + input +
                         " (" + s.to_string() +
                         "): a session of T steps over these files caches "
                         "N - T tokens and needs Q's last min(N - T, 64) + T queries; allowed: " +
                         (most > 0 ? "1 to " + std::to_string(most) + " steps here"
                                   : std::string("none with these files")));
      }
      const std::int64_t cached = s.seq_len - steps;
      s.seq_len = cached;
      s.query_len = 1;
    }
    agree("seq-len", c.seq_lens, s.seq_len);
    agree("batch", c.batches, s.batch);
    agree("heads", c.heads, s.heads);
    agree("kv-heads", c.kv_heads, s.kv_heads);
    agree("query-len", c.query_lens, s.query_len);
    agree("head-dim", c.head_dims, s.head_dim);
  }
}

// "1, 2, 4, 8": the kv head counts --heads allows, for messages (the first few when many).
std::string divisors_text(std::int64_t n) {
  std::vector<std::int64_t> low, high;
  for (std::int64_t d = 1; d * d <= n; ++d)
    if (n % d == 0) {
      low.push_back(d);
      if (d != n / d) high.insert(high.begin(), n / d);
    }
  low.insert(low.end(), high.begin(), high.end());
  constexpr std::size_t kShown = 12;
  std::string text;
  for (std::size_t i = 0; i < low.size() && i < kShown; ++i)
    text += (i ? ", " : "") + std::to_string(low[i]);
  if (low.size() > kShown) text += ", ..., " + std::to_string(n);
  return text;
}

// The shape rules of AttentionShape::check, in the options' words.
void check_shape(const Point& p) {
  const AttentionShape& s = p.shape;
  if (s.heads % s.kv_heads != 0)
    throw UsageError("--kv-heads: " + std::to_string(s.kv_heads) + " does not divide --heads " +
                     std::to_string(s.heads) + "; allowed: a divisor of " +
                     std::to_string(s.heads) + " (" + divisors_text(s.heads) +
                     "), each kv head serving a whole group of query heads");
  if (s.query_len > s.seq_len)
    throw UsageError("--query-len: " + std::to_string(s.query_len) + " is above --seq-len " +
                     std::to_string(s.seq_len) + "; allowed: 1 to " + std::to_string(s.seq_len) +
                     " (the queries are the last M of the N positions)");
  if (p.shared_qk && !s.square())
    throw UsageError(
        "--shared-qk makes K the row-normalised Q, so it needs --query-len equal to "
        "--seq-len and --kv-heads equal to --heads; got " +
        s.to_string());
  try {
    s.check();
    point_tensor_bytes(s);
  } catch (const std::exception& e) {
    throw UsageError(s.to_string() + ": " + e.what());
  }
}

// Every (point, variant) is checked before any work starts, so a typo never costs a sweep.
void check_points(const SweepConfig& c) {
  for (const Point& p : expand_points(c)) {
    check_shape(p);
    for (const auto& spec : c.variant_specs) {
      try {
        const auto variant = make_variant(spec);
        // A shape the method cannot serve becomes a skipped row that says why, not a refusal.
        if (!variant->unsupported(p.shape, p.causal).empty()) continue;
        if (p.decode_steps == 0) {
          variant->check(p.shape, p.causal);
          continue;
        }
        // A session's caches grow from N + 1 keys at its first step to N + T at its last.
        AttentionShape grown = p.shape;
        grown.seq_len += 1;
        variant->check(grown, p.causal);
        grown.seq_len += p.decode_steps - 1;
        variant->check(grown, p.causal);
      } catch (const std::invalid_argument& e) {
        throw UsageError("--variant " + spec + " at " + p.to_string() + ": " + e.what());
      }
    }
  }
}

}  // namespace

std::vector<std::int64_t> parse_int_list(const std::string& option, const std::string& text,
                                         std::int64_t min, std::int64_t max) {
  std::vector<std::int64_t> out;
  for (const auto& item : split_list(option, text)) {
    std::int64_t v = 0;
    if (!parse_scaled_integer(item, v) || v < min || v > max)
      throw UsageError("--" + option + ": '" + item + "' is not an integer in [" +
                       std::to_string(min) + ", " + std::to_string(max) + "]");
    out.push_back(v);
  }
  return out;
}

std::vector<int> parse_bool_list(const std::string& option, const std::string& text) {
  std::vector<int> out;
  for (auto item : split_list(option, text)) {
    std::transform(item.begin(), item.end(), item.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    if (item == "true" || item == "1" || item == "yes" || item == "on") {
      out.push_back(1);
    } else if (item == "false" || item == "0" || item == "no" || item == "off") {
      out.push_back(0);
    } else {
      throw UsageError("--" + option + ": '" + item + "' is not true or false");
    }
  }
  return out;
}

std::int64_t parse_bytes(const std::string& option, const std::string& text) {
  std::int64_t v = 0;
  if (!parse_scaled_integer(trim(text), v) || v < 1)
    throw UsageError("--" + option + ": '" + text +
                     "' is not a positive byte count such as 8589934592, 8192M or 8G");
  return v;
}

std::optional<SweepConfig> parse_run_options(const std::vector<std::string>& args,
                                             std::string& help) {
  RawOptions raw;
  po::options_description visible = point_options(raw, false);
  visible.add(measure_options(raw));
  visible.add_options()(
      "save-output", po::value(&raw.save_output)->value_name("DIR"),
      "write the first variant's output to DIR/out.npy ([B,H,M,D] float32, Q's shape)");
  po::variables_map vm;
  if (!parse_into(args, visible,
                  "Usage: attnbench run [options]\n"
                  "Measures every --variant at one point. Without --out the rows are printed "
                  "as a table.",
                  help, false, vm, nullptr))
    return std::nullopt;
  SweepConfig c = build_config(raw, true);
  apply_captured_shapes(c, vm);
  check_points(c);
  return c;
}

namespace {

// `sweep`, or the definition of one that merge --expect and status check files against.
std::optional<SweepConfig> parse_sweep(const std::vector<std::string>& args, std::string& help,
                                       bool definition_only) {
  RawOptions raw;
  po::options_description visible = point_options(raw, true);
  visible.add(measure_options(raw));
  visible.add_options()("plot", po::bool_switch(&raw.plot),
                        "draw the plots next to the CSV when done")(
      "resume", po::bool_switch(&raw.resume),
      "skip points already in --out with status ok, so an interrupted sweep continues")(
      "report", po::value(&raw.report)->value_name("FILE.html"),
      "when done, write the HTML report of --out (as 'attnbench report' does) to this file")(
      "num-shards", po::value(&raw.num_shards)->value_name("N"),
      "split the sweep's (point, variant) items into N shards balanced by predicted time; "
      "with --shard-index, measure one of them (required whenever a shard index is given)");
  po::options_description cli = visible;
  cli.add_options()("config", po::value(&raw.config)->value_name("FILE"),
                    "read options from FILE (key = value lines, e.g. seq-len = 1K,2K); the "
                    "command line overrides it")(
      "shard-index", po::value(&raw.shard_index)->value_name("I"),
      "the shard to measure, 0 to N-1 (default: SLURM_ARRAY_TASK_ID, else "
      "JOB_COMPLETION_INDEX, when set)")(
      "plan", po::bool_switch(&raw.plan),
      "print each shard's items and predicted time (--num-shards, default 1) and measure "
      "nothing");
  po::variables_map vm;
  if (!parse_into(args, cli,
                  "Usage: attnbench sweep --out FILE.csv [options]\n"
                  "Measures the cartesian product of the option lists, one CSV row per (point, "
                  "variant), written as soon as it is measured. With --num-shards N and "
                  "--shard-index I it measures only shard I of the sweep's items.",
                  help, true, vm, &raw.config))
    return std::nullopt;
  SweepConfig c = build_config(raw, false);
  c.plan = raw.plan;
  auto given = [&](const char* option, const std::string& value) {
    return vm.count(option) ? std::optional<std::string>(value) : std::nullopt;
  };
  if (definition_only) {
    c.shard = resolve_shard_selection(given("num-shards", raw.num_shards), std::nullopt, true,
                                      [](const char*) -> const char* { return nullptr; });
  } else {
    c.shard = resolve_shard_selection(given("num-shards", raw.num_shards),
                                      given("shard-index", raw.shard_index), c.plan,
                                      [](const char* name) { return std::getenv(name); });
    if (c.out.empty() && !c.plan) throw UsageError("sweep needs --out FILE.csv");
    if (const char* job = std::getenv("SLURM_JOB_ID")) c.job_id = job;
  }
  c.resume_command = "attnbench sweep";
  for (const auto& arg : args) c.resume_command += " " + shell_word(arg);
  c.command_line = c.resume_command;
  // A rerun outside the array has no index in its environment.
  if (c.shard.index >= 0 && c.shard.index_source != "--shard-index")
    c.resume_command += " --shard-index " + std::to_string(c.shard.index);
  if (!c.resume) c.resume_command += " --resume";
  c.report = raw.report;
  if (!c.report.empty() && c.report == c.out)
    throw UsageError("--report: '" + c.report + "' is the --out CSV; give an .html file");
  apply_captured_shapes(c, vm);
  check_points(c);
  return c;
}

}  // namespace

std::optional<SweepConfig> parse_sweep_options(const std::vector<std::string>& args,
                                               std::string& help) {
  return parse_sweep(args, help, false);
}

SweepConfig load_sweep_definition(const std::string& config_path, int& num_shards) {
  return load_sweep_definition(std::vector<std::string>{"--config", config_path}, num_shards);
}

SweepConfig load_sweep_definition(const std::vector<std::string>& sweep_args, int& num_shards) {
  std::string help;
  std::optional<SweepConfig> c = parse_sweep(sweep_args, help, true);
  if (!c) throw UsageError("the sweep's options cannot include --help here");
  num_shards = c->shard.num_shards;
  c->shard = {};
  return *c;
}

std::optional<PatternConfig> parse_pattern_options(const std::vector<std::string>& args,
                                                   std::string& help) {
  RawOptions raw;
  raw.heads = "1";
  po::options_description visible("Pattern options");
  visible.add(point_options(raw, false, PointCommand::kPattern));
  visible.add_options()("save", po::value(&raw.save)->value_name("FILE.npy"),
                        "write the key set as uint8 [H, M, N] (1: query row m, at position "
                        "N - M + m, attends the key; M = N unless --query-len)");
  po::variables_map vm;
  if (!parse_into(args, visible,
                  "Usage: attnbench pattern --variant SPEC --seq-len N --save FILE.npy [options]\n"
                  "Exports the keys each query attends (N up to 8192; --heads defaults to 1 "
                  "here; --query-len M exports the last M queries, --kv-heads groups the heads).",
                  help, false, vm, nullptr))
    return std::nullopt;
  if (raw.variants.size() != 1) throw UsageError("pattern needs exactly one --variant SPEC");
  if (raw.save.empty()) throw UsageError("pattern needs --save FILE.npy");
  SweepConfig c = build_config(raw, true);
  apply_captured_shapes(c, vm);
  if (c.batches[0] != 1) throw UsageError("pattern exports batch 1 only; leave out --batch");
  if (c.seq_lens[0] > 8192)
    throw UsageError("--seq-len: pattern export takes N up to 8192, got " +
                     std::to_string(c.seq_lens[0]));
  check_points(c);
  PatternConfig p;
  p.variant_spec = c.variant_specs[0];
  p.point = expand_points(c)[0];
  p.save = raw.save;
  return p;
}

}  // namespace attn::harness
