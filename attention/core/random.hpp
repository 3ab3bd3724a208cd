#pragma once

#include <cstdint>

namespace attn {

// splitmix64 (Steele, Lea and Flood, 2014): advances `state` and returns the next output. The one
// definition behind every seeded choice in the suite (inputs, BigBird's random blocks, LSH's
// rotations, the accuracy sample), so a seed means the same numbers on every platform.
inline std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// splitmix64's output for a single input: a stateless 64-bit hash.
inline std::uint64_t hash64(std::uint64_t x) { return splitmix64(x); }

// splitmix64 as a generator object: a tiny, fully specified generator, so that a seed means the
// same numbers on every platform and standard library (std:: distributions are
// implementation-defined).
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() { return splitmix64(state_); }
  // Uniform in [0, n) for n >= 1 (multiply-shift; the bias is below 2^-32 for n < 2^32).
  std::uint64_t below(std::uint64_t n) {
    __extension__ using Wide = unsigned __int128;
    return static_cast<std::uint64_t>((static_cast<Wide>(next()) * n) >> 64);
  }

 private:
  std::uint64_t state_;
};

// Combines a seed with stream identifiers into an independent seed.
inline std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0) {
  SplitMix64 g(seed ^ (a * 0xD1B54A32D192ED03ull) ^ (b * 0x8CB92BA72F3D8DD7ull));
  g.next();
  return g.next();
}

}  // namespace attn
