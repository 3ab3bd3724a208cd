#include "attention/shape.hpp"

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

}  // namespace attn
