#pragma once
// Portable random helpers for data generation and shuffling. std::mt19937_64 is fully
// specified by the standard, but std::uniform_int_distribution is not, so every draw goes
// through these helpers: the same seed gives the same bytes with every compiler and library.

#include <cstdint>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

namespace attnlab {

// SplitMix64 finaliser: spreads nearby seeds (1, 2, 3, ...) far apart.
inline uint64_t mix_seed(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Uniform integer in [0, n), unbiased (rejection of the short top range).
inline uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) {
  if (n == 0) throw std::invalid_argument("uniform_below: n must be positive");
  const uint64_t threshold = (0 - n) % n;  // 2^64 mod n
  while (true) {
    const uint64_t x = rng();
    if (x >= threshold) return x % n;
  }
}

// Uniform integer in [lo, hi], both included.
inline int64_t uniform_int(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  if (hi < lo) throw std::invalid_argument("uniform_int: empty range");
  const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo) + 1;
  if (span == 0) return static_cast<int64_t>(rng());  // the whole int64 range
  return lo + static_cast<int64_t>(uniform_below(rng, span));
}

// One element of a non-empty vector, uniformly.
template <typename T>
const T& pick(std::mt19937_64& rng, const std::vector<T>& items) {
  return items[uniform_below(rng, items.size())];
}

// Fisher-Yates shuffle driven by uniform_below.
template <typename T>
void shuffle_in_place(std::mt19937_64& rng, std::vector<T>& items) {
  for (size_t i = items.size(); i > 1; --i) {
    const size_t j = uniform_below(rng, i);
    std::swap(items[i - 1], items[j]);
  }
}

}  // namespace attnlab
