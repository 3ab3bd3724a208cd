#pragma once

#include <cctype>
#include <string>
#include <vector>

#include "attention/core/registry.hpp"

namespace attn::testing {

// Every registered variant with its defaults and with each of its example specs: what the
// generic tests run, so a new variant is covered the day it registers.
inline std::vector<std::string> all_specs() {
  std::vector<std::string> specs;
  for (const auto* entry : Registry::instance().entries()) {
    specs.push_back(entry->info.name);
    for (const auto& example : entry->info.examples) specs.push_back(example);
  }
  return specs;
}

// A spec as a test name: letters and digits, '_' for the rest.
inline std::string test_name(const std::string& spec) {
  std::string name;
  for (char c : spec) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
}

}  // namespace attn::testing
