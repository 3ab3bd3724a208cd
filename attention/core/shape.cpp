#include "attention/core/shape.hpp"

#include <limits>
#include <stdexcept>

namespace attn {

std::int64_t checked_product(std::int64_t a, std::int64_t b, const char* what) {
  if (a < 0 || b < 0) throw std::invalid_argument(std::string(what) + ": negative size");
  if (a != 0 && b > std::numeric_limits<std::int64_t>::max() / a)
    throw std::overflow_error(std::string(what) + ": size overflows 64-bit integers");
  return a * b;
}

std::int64_t Shape::elements() const {
  const char* what = "tensor [batch, heads, seq_len, head_dim]";
  return checked_product(checked_product(checked_product(batch, heads, what), seq_len, what),
                         head_dim, what);
}

std::string Shape::to_string() const {
  return "B=" + std::to_string(batch) + " H=" + std::to_string(heads) +
         " N=" + std::to_string(seq_len) + " D=" + std::to_string(head_dim);
}

void AttentionShape::check() const {
  const auto at_least_one = [](const char* name, std::int64_t value) {
    if (value < 1)
      throw std::invalid_argument(std::string(name) + "=" + std::to_string(value) +
                                  " must be at least 1");
  };
  at_least_one("batch", batch);
  at_least_one("heads", heads);
  at_least_one("kv_heads", kv_heads);
  at_least_one("query_len", query_len);
  at_least_one("seq_len", seq_len);
  at_least_one("head_dim", head_dim);
  if (heads % kv_heads != 0)
    throw std::invalid_argument("kv_heads=" + std::to_string(kv_heads) +
                                " must divide heads=" + std::to_string(heads) +
                                " (each kv head serves a whole group of "
                                "query heads)");
  if (query_len > seq_len)
    throw std::invalid_argument("query_len=" + std::to_string(query_len) +
                                " must be at most seq_len=" + std::to_string(seq_len) +
                                " (the queries are the last query_len of the seq_len positions)");
  query_shape().elements();
  kv_shape().elements();
}

std::string AttentionShape::to_string() const {
  std::string text = "B=" + std::to_string(batch) + " H=" + std::to_string(heads);
  if (kv_heads != heads) text += " KV=" + std::to_string(kv_heads);
  if (query_len != seq_len) text += " M=" + std::to_string(query_len);
  text += " N=" + std::to_string(seq_len) + " D=" + std::to_string(head_dim);
  if (dtype == Dtype::kBf16) text += " bf16";
  if (kv_quantization != KvQuantization::kNone)
    text += " " + std::string(kv_quantization_name(kv_quantization)) + " KV";
  return text;
}

}  // namespace attn
