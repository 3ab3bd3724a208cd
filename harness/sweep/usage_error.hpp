#pragma once

#include <stdexcept>

namespace attn::harness {

// Bad user input: reported with exit status 2.
class UsageError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

}  // namespace attn::harness
