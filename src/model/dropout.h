#pragma once
// Inverted dropout whose mask is a pure function of (seed, element index).
//
// LibTorch 1.13's CPU dropout draws a Bernoulli tensor with a serial generator and keeps the
// mask for backward; on a (4096, 2048) tensor it costs more than the matmul before it. Here
// the keep/drop decision for element i is a counter-based hash of (seed, i): it is drawn in
// parallel, nothing is stored, and backward recomputes the same mask from the seed. The seed
// comes from LibTorch's default CPU generator, so torch::manual_seed makes runs repeatable
// and a checkpoint's saved RNG state resumes the same masks.

#include <cstdint>

#include <torch/types.h>

namespace attnlab {

// Training: zeroes each element with probability p and scales the rest by 1 / (1 - p).
// Not training or p == 0: returns x unchanged. Differentiable. Requires 0 <= p < 1.
torch::Tensor dropout(const torch::Tensor& x, double p, bool training);

// Dropout with a given seed instead of one drawn from the default generator (for tests and
// for kernels that apply the same mask elsewhere). Differentiable.
torch::Tensor dropout_with_seed(const torch::Tensor& x, double p, uint64_t seed);

// Draws a 64-bit seed from LibTorch's default CPU generator (thread-safe).
uint64_t draw_seed();

// 64 random bits for the element pair (2k, 2k + 1) under `seed` (splitmix64 of the
// counter): the low 32 bits decide element 2k, the high 32 bits element 2k + 1.
inline uint64_t dropout_hash(uint64_t seed, uint64_t pair_index) {
  uint64_t z = seed + (pair_index + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// 2^32 * p, rounded: an element is dropped when its 32 random bits are below this.
inline uint64_t dropout_threshold(double p) {
  return static_cast<uint64_t>(p * 4294967296.0 + 0.5);
}

}  // namespace attnlab
