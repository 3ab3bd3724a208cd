#include "harness/measure/captured_inputs.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <vector>

#include "harness/io/npy.hpp"
#include "harness/io/safetensors.hpp"

namespace attn::harness {
namespace {

constexpr std::string_view kNpyPrefix = "npy:";
constexpr std::string_view kSafetensorsPrefix = "safetensors:";
constexpr const char* kSafetensorsSyntax = "safetensors:DIR[,layer=L][,heads=A-B]";

// How the three tensors are named in messages: the file (and tensor) in full, and briefly.
struct TensorNames {
  std::array<std::string, 3> full;   // "caps/q.npy" or "caps/l3.safetensors: tensor 'layers.3.q'"
  std::array<std::string, 3> brief;  // "q.npy" or "layers.3.q"
};

// The 4-d shape an array stands for, or an error naming it and the `layouts` allowed.
Shape shape_as_inputs(const std::string& name, const std::vector<std::int64_t>& dims,
                      const char* layouts, bool two_d_allowed) {
  Shape shape;
  if (dims.size() == 4) {
    shape = {dims[0], dims[1], dims[2], dims[3]};
  } else if (dims.size() == 2 && two_d_allowed) {
    shape = {1, 1, dims[0], dims[1]};
  } else {
    throw std::invalid_argument(name + ": shape " + shape_string(dims) +
                                " is not supported; expected " + layouts);
  }
  for (std::int64_t dim : dims) {
    if (dim <= 0) {
      throw std::invalid_argument(name + ": shape " + shape_string(dims) +
                                  " has an empty dimension; every dimension must be positive");
    }
  }
  return shape;
}

// The attention shape of Q [B,H,M,D] and K, V [B,KV,N,D], or an error naming the tensor at
// fault and the shape it must have.
AttentionShape attention_shape_of(const TensorNames& names,
                                  const std::array<std::vector<std::int64_t>, 3>& dims,
                                  bool two_d_allowed) {
  static constexpr std::array<const char*, 3> kLayouts4 = {"[B, H, M, D]", "[B, KV, N, D]",
                                                           "[B, KV, N, D]"};
  static constexpr std::array<const char*, 3> kLayouts = {
      "[B, H, M, D] or [M, D]", "[B, KV, N, D] or [N, D]", "[B, KV, N, D] or [N, D]"};
  std::array<Shape, 3> shapes;
  for (std::size_t t = 0; t < 3; ++t)
    shapes[t] = shape_as_inputs(names.full[t], dims[t], (two_d_allowed ? kLayouts : kLayouts4)[t],
                                two_d_allowed);
  const Shape& q = shapes[0];
  const Shape& k = shapes[1];
  const auto shape_of = [&](std::size_t t) { return shape_string(dims[t]); };
  if (shapes[2] != k)
    throw std::invalid_argument(names.full[2] + " has shape " + shape_of(2) + " but " +
                                names.full[1] + " has shape " + shape_of(1) + "; " +
                                names.brief[1] + " and " + names.brief[2] +
                                " must have the same shape [B, kv_heads, N, D]");
  const std::string expected_kv = "expected [" + std::to_string(q.batch) + ", KV, N, " +
                                  std::to_string(q.head_dim) + "] with KV dividing " +
                                  names.brief[0] + "'s " + std::to_string(q.heads) +
                                  " heads and N >= its " + std::to_string(q.seq_len) +
                                  " queries, after " + names.full[0] + " of shape " + shape_of(0);
  const auto reject_kv = [&](const std::string& problem) {
    throw std::invalid_argument(names.full[1] + " (and " + names.brief[2] + ") has shape " +
                                shape_of(1) + ": " + problem + "; " + expected_kv);
  };
  if (k.batch != q.batch)
    reject_kv("batch " + std::to_string(k.batch) + " differs from " + names.brief[0] + "'s " +
              std::to_string(q.batch));
  if (k.head_dim != q.head_dim)
    reject_kv("head_dim " + std::to_string(k.head_dim) + " differs from " + names.brief[0] + "'s " +
              std::to_string(q.head_dim));
  if (q.heads % k.heads != 0)
    reject_kv(std::to_string(k.heads) + " kv heads do not divide " + names.brief[0] + "'s " +
              std::to_string(q.heads) + " query heads");
  if (q.seq_len > k.seq_len)
    throw std::invalid_argument(
        names.full[0] + " has shape " + shape_of(0) + ": its " + std::to_string(q.seq_len) +
        " queries are more than the " + std::to_string(k.seq_len) + " keys of " + names.full[1] +
        " (shape " + shape_of(1) + "); expected [" + std::to_string(q.batch) + ", " +
        std::to_string(q.heads) + ", M, " + std::to_string(q.head_dim) + "] with M <= " +
        std::to_string(k.seq_len) + " (the queries are the last M of the N positions)");
  return {q.batch, q.heads, k.heads, q.seq_len, k.seq_len, q.head_dim};
}

CapturedInputs read_npy_inputs(const std::string& dir) {
  TensorNames names;
  CapturedInputs in;
  std::array<std::vector<std::int64_t>, 3> dims;
  static constexpr std::array<const char*, 3> kFiles = {"q.npy", "k.npy", "v.npy"};
  for (std::size_t t = 0; t < 3; ++t) {
    names.brief[t] = kFiles[t];
    names.full[t] = dir + "/" + kFiles[t];
    NpyArray array = read_npy_f32(names.full[t]);
    dims[t] = std::move(array.shape);
    in.data[t] = std::move(array.data);
  }
  in.shape = attention_shape_of(names, dims, true);
  return in;
}

// ---- safetensors:DIR[,layer=L][,heads=A-B] ------------------------------------------------

struct SafetensorsSpec {
  std::string dir;
  std::optional<std::int64_t> layer;
  std::optional<std::pair<std::int64_t, std::int64_t>> heads;  // first, last (inclusive)
};

[[noreturn]] void reject_spec(const std::string& input, const std::string& what) {
  throw std::invalid_argument("input '" + input + "': " + what + "; expected " +
                              kSafetensorsSyntax);
}

bool parse_index(std::string_view text, std::int64_t& value) {
  if (text.empty() || text.size() > 9) return false;
  value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  return true;
}

SafetensorsSpec parse_safetensors_spec(const std::string& input) {
  SafetensorsSpec spec;
  std::string_view rest = std::string_view(input).substr(kSafetensorsPrefix.size());
  const std::size_t comma = rest.find(',');
  spec.dir = std::string(rest.substr(0, comma));
  if (spec.dir.empty()) reject_spec(input, "names no directory");
  rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
  while (comma != std::string_view::npos) {
    const std::size_t next = rest.find(',');
    const std::string_view option = rest.substr(0, next);
    const std::size_t eq = option.find('=');
    const std::string_view key = option.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view{} : option.substr(eq + 1);
    if (key == "layer") {
      std::int64_t layer = 0;
      if (!parse_index(value, layer))
        reject_spec(input, "layer='" + std::string(value) + "' is not a layer number (0, 1, ...)");
      spec.layer = layer;
    } else if (key == "heads") {
      const std::size_t dash = value.find('-');
      std::int64_t first = 0, last = 0;
      const bool ok = dash == std::string_view::npos
                          ? parse_index(value, first) && parse_index(value, last)
                          : parse_index(value.substr(0, dash), first) &&
                                parse_index(value.substr(dash + 1), last);
      if (!ok || last < first)
        reject_spec(input, "heads='" + std::string(value) +
                               "' is not a head or a range of query heads (e.g. heads=0-7, "
                               "heads=5)");
      spec.heads = {{first, last}};
    } else {
      reject_spec(input, "unknown option '" + std::string(option) + "'; allowed: layer=, heads=");
    }
    if (next == std::string_view::npos) break;
    rest = rest.substr(next + 1);
  }
  return spec;
}

// Where one tensor of a layer is: its file (an index into the files) and its header entry.
struct Located {
  std::size_t file = 0;
  const SafetensorsTensor* tensor = nullptr;
};

// "layers.12.q" -> (12, 0); anything else -> nullopt.
std::optional<std::pair<std::int64_t, std::size_t>> layer_tensor(std::string_view name) {
  constexpr std::string_view kLayers = "layers.";
  if (!name.starts_with(kLayers)) return std::nullopt;
  name.remove_prefix(kLayers.size());
  const std::size_t dot = name.find('.');
  std::int64_t layer = 0;
  if (dot == std::string_view::npos || !parse_index(name.substr(0, dot), layer))
    return std::nullopt;
  const std::string_view which = name.substr(dot + 1);
  if (which == "q") return {{layer, 0}};
  if (which == "k") return {{layer, 1}};
  if (which == "v") return {{layer, 2}};
  return std::nullopt;
}

CapturedInputs read_safetensors_inputs(const std::string& input) {
  const SafetensorsSpec spec = parse_safetensors_spec(input);
  std::error_code ec;
  if (!std::filesystem::is_directory(spec.dir, ec))
    throw std::invalid_argument("input '" + input + "': '" + spec.dir +
                                "' is not a directory; expected a folder of .safetensors files");
  std::vector<std::string> paths;
  for (const auto& entry : std::filesystem::directory_iterator(spec.dir, ec))
    if (entry.path().extension() == ".safetensors") paths.push_back(entry.path().string());
  std::sort(paths.begin(), paths.end());
  if (paths.empty())
    throw std::invalid_argument("input '" + input + "': " + spec.dir +
                                " holds no .safetensors files");
  std::vector<SafetensorsFile> files;
  for (const auto& path : paths) files.push_back(read_safetensors_header(path));

  std::map<std::int64_t, std::array<Located, 3>> layers;
  for (std::size_t f = 0; f < files.size(); ++f) {
    for (const auto& tensor : files[f].tensors) {
      const auto which = layer_tensor(tensor.name);
      if (!which) continue;
      Located& slot = layers[which->first][which->second];
      if (slot.tensor)
        throw std::invalid_argument("tensor '" + tensor.name + "' is in both " +
                                    files[slot.file].path + " and " + files[f].path +
                                    "; each layer's q, k and v must appear once");
      slot = {f, &tensor};
    }
  }
  std::string present;
  for (const auto& [layer, _] : layers)
    present += (present.empty() ? "" : ", ") + std::to_string(layer);
  if (layers.empty())
    throw std::invalid_argument("input '" + input + "': no tensor in " + spec.dir +
                                " is named layers.L.q, layers.L.k or layers.L.v");
  std::int64_t layer = layers.begin()->first;
  if (spec.layer) {
    layer = *spec.layer;
    if (!layers.count(layer))
      throw std::invalid_argument("input '" + input + "': " + spec.dir + " holds no layer " +
                                  std::to_string(layer) + "; it holds layers " + present);
  } else if (layers.size() > 1) {
    throw std::invalid_argument("input '" + input + "': " + spec.dir + " holds layers " + present +
                                "; choose one with layer=L");
  }
  const std::array<Located, 3>& located = layers[layer];
  TensorNames names;
  std::array<std::vector<std::int64_t>, 3> dims;
  static constexpr std::array<const char*, 3> kWhich = {"q", "k", "v"};
  for (std::size_t t = 0; t < 3; ++t) {
    names.brief[t] = "layers." + std::to_string(layer) + "." + kWhich[t];
    if (!located[t].tensor)
      throw std::invalid_argument("input '" + input + "': layer " + std::to_string(layer) +
                                  " has no tensor " + names.brief[t] + " in " + spec.dir +
                                  "; each layer needs q, k and v");
    names.full[t] = files[located[t].file].path + ": tensor '" + names.brief[t] + "'";
    dims[t] = located[t].tensor->shape;
  }
  const AttentionShape all = attention_shape_of(names, dims, false);

  // The query heads chosen and the kv heads they read, which must form a GQA shape again.
  const std::int64_t group = all.heads / all.kv_heads;
  std::int64_t first = 0, last = all.heads - 1;
  if (spec.heads) {
    std::tie(first, last) = *spec.heads;
    if (last >= all.heads)
      reject_spec(input, "heads=" + std::to_string(first) + "-" + std::to_string(last) +
                             " goes past the " + std::to_string(all.heads) + " query heads of " +
                             names.brief[0] + " (0-" + std::to_string(all.heads - 1) + ")");
    const bool whole_groups = first % group == 0 && (last + 1) % group == 0;
    if (!whole_groups && first / group != last / group)
      reject_spec(input, "heads=" + std::to_string(first) + "-" + std::to_string(last) +
                             " splits a kv group: " + std::to_string(all.heads) +
                             " query heads read " + std::to_string(all.kv_heads) +
                             " kv heads in groups of " + std::to_string(group) +
                             "; choose whole groups (e.g. heads=0-" + std::to_string(group - 1) +
                             ") or heads within one group");
  }
  const std::int64_t first_kv = first / group, last_kv = last / group;
  CapturedInputs in;
  in.shape = {all.batch,     last - first + 1, last_kv - first_kv + 1,
              all.query_len, all.seq_len,      all.head_dim};
  const std::array<std::pair<std::int64_t, std::int64_t>, 3> ranges = {
      {{first, last}, {first_kv, last_kv}, {first_kv, last_kv}}};
  for (std::size_t t = 0; t < 3; ++t) {
    const std::int64_t heads = t == 0 ? all.heads : all.kv_heads;
    const std::int64_t rows = t == 0 ? all.query_len : all.seq_len;
    const std::int64_t chosen = ranges[t].second - ranges[t].first + 1;
    const std::int64_t head_size = rows * all.head_dim;
    in.data[t] = AlignedBuffer<float>(static_cast<std::size_t>(all.batch * chosen * head_size));
    for (std::int64_t b = 0; b < all.batch; ++b) {
      for (std::int64_t h = 0; h < chosen; ++h) {
        const std::int64_t source = (b * heads + ranges[t].first + h) * head_size;
        float* out = in.data[t].data() + (b * chosen + h) * head_size;
        read_safetensors_f32(files[located[t].file], *located[t].tensor, source,
                             {out, static_cast<std::size_t>(head_size)});
      }
    }
  }
  return in;
}

}  // namespace

bool is_captured_input(std::string_view input) {
  return input.starts_with(kNpyPrefix) || input.starts_with(kSafetensorsPrefix);
}

void check_captured_input_name(const std::string& input) {
  if (input.starts_with(kNpyPrefix)) {
    if (input.size() == kNpyPrefix.size())
      throw std::invalid_argument("input '" + input + "' names no directory; expected npy:DIR");
    return;
  }
  if (input.starts_with(kSafetensorsPrefix)) {
    parse_safetensors_spec(input);
    return;
  }
  throw std::invalid_argument(
      "input '" + input + "' names no captured tensors; expected npy:DIR or " + kSafetensorsSyntax);
}

CapturedInputs read_captured_inputs(const std::string& input) {
  check_captured_input_name(input);
  if (input.starts_with(kNpyPrefix)) return read_npy_inputs(input.substr(kNpyPrefix.size()));
  return read_safetensors_inputs(input);
}

AttentionShape captured_input_shape(const std::string& input) {
  return read_captured_inputs(input).shape;
}

AttentionShape npy_input_shape(const std::string& dir) { return read_npy_inputs(dir).shape; }

}  // namespace attn::harness
