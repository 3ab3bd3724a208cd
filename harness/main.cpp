#include <iostream>

#include "attention/registry.hpp"

int main() {
  for (const auto* e : attn::Registry::instance().entries()) std::cout << e->info.name << "\n";
  return 0;
}
