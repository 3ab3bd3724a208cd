#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "attention/core/variant.hpp"

namespace attn {

// What the registry knows of a variant before building one: its name, a line of description
// and its parameters (with defaults and allowed ranges).
struct VariantInfo {
  std::string name;
  std::string summary;
  ParamSchema params;
  // Specs that exercise the parameters at small sizes; the generic registry test checks each
  // of them (and the defaults) against the fp64 reference.
  std::vector<std::string> examples = {};
};

using VariantFactory = std::function<std::unique_ptr<Variant>(const VariantConfig&)>;

class Registry {
 public:
  struct Entry {
    VariantInfo info;
    VariantFactory factory;
  };

  static Registry& instance();

  // Throws std::logic_error if the name is taken.
  void add(VariantInfo info, VariantFactory factory);
  // All registered variants, sorted by name.
  std::vector<const Entry*> entries() const;
  const Entry* find(std::string_view name) const;

  // Parses and validates a spec string, then builds the variant. Throws std::invalid_argument
  // naming the unknown variant (and the known ones) or the offending parameter.
  std::unique_ptr<Variant> create(std::string_view spec) const;

 private:
  std::vector<Entry> entries_;
};

inline std::unique_ptr<Variant> make_variant(std::string_view spec) {
  return Registry::instance().create(spec);
}

// One line at the bottom of a variant's file registers it:
//   const bool kRegistered = attn::register_variant<SlidingWindow>();
// T provides `static VariantInfo info()` and a constructor taking `const VariantConfig&`.
template <class T>
bool register_variant() {
  Registry::instance().add(T::info(), [](const VariantConfig& config) {
    return std::unique_ptr<Variant>(std::make_unique<T>(config));
  });
  return true;
}

}  // namespace attn
