#include "attention/core/registry.hpp"

#include <algorithm>
#include <stdexcept>

namespace attn {

Registry& Registry::instance() {
  static Registry registry;  // constructed on first use, so registration order does not matter
  return registry;
}

void Registry::add(VariantInfo info, VariantFactory factory) {
  if (find(info.name)) throw std::logic_error("variant '" + info.name + "' registered twice");
  entries_.push_back({std::move(info), std::move(factory)});
}

std::vector<const Registry::Entry*> Registry::entries() const {
  std::vector<const Entry*> out;
  for (const auto& e : entries_) out.push_back(&e);
  std::sort(out.begin(), out.end(),
            [](const Entry* a, const Entry* b) { return a->info.name < b->info.name; });
  return out;
}

const Registry::Entry* Registry::find(std::string_view name) const {
  for (const auto& e : entries_)
    if (e.info.name == name) return &e;
  return nullptr;
}

std::unique_ptr<Variant> Registry::create(std::string_view spec) const {
  SpecText text = split_spec(spec);
  const Entry* entry = find(text.name);
  if (!entry) {
    std::string known;
    for (const Entry* e : entries()) known += (known.empty() ? "" : ", ") + e->info.name;
    throw std::invalid_argument("unknown variant '" + text.name + "'; known variants: " + known +
                                " (see 'attnbench list')");
  }
  return entry->factory(VariantConfig(text.name, entry->info.params, text.assignments));
}

}  // namespace attn
