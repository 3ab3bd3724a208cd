// Variant specs: any text either builds a variant whose canonical spec parses back to itself,
// or is rejected with std::invalid_argument. Anything else (another exception, a crash, a
// sanitizer report) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

#include "attention/core/params.hpp"
#include "attention/core/registry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view spec(reinterpret_cast<const char*>(data), size);
  try {
    attn::split_spec(spec);
  } catch (const std::invalid_argument&) {
  }
  std::unique_ptr<attn::Variant> variant;
  try {
    variant = attn::make_variant(spec);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  // params() round-trips through the parser.
  if (attn::make_variant(variant->spec())->spec() != variant->spec()) std::abort();
  // At a small shape a valid variant is either usable or rejects the shape by name.
  for (const attn::Shape shape : {attn::Shape{1, 2, 64, 16}, attn::Shape{2, 1, 7, 3}}) {
    for (const bool causal : {false, true}) {
      try {
        variant->check(shape, causal);
        variant->cost(shape, causal, 2);
      } catch (const std::invalid_argument&) {
      }
    }
  }
  return 0;
}
