#pragma once
// Inverted dropout whose mask is a pure function of (seed, element index).
//
// LibTorch 1.13's CPU dropout draws a Bernoulli tensor with a serial generator and keeps the
// mask for backward; on a (4096, 2048) tensor it costs more than the matmul before it. Here
// the keep/drop decision for element i is a counter-based hash of (seed, i): it is drawn in
// parallel, nothing is stored, and backward recomputes the same mask from the seed. The seed
// comes from LibTorch's default CPU generator, so torch::manual_seed makes runs repeatable
// and a checkpoint's saved RNG state resumes the same masks.

#include <torch/types.h>

#include <cstdint>

namespace attnlab {

// Training: zeroes each element with probability p and scales the rest by 1 / (1 - p).
// Not training or p == 0: returns x unchanged. Differentiable. Requires 0 <= p < 1.
torch::Tensor dropout(const torch::Tensor& x, double p, bool training);

// Dropout with a given seed instead of one drawn from the default generator (for tests and
// for kernels that apply the same mask elsewhere). Element i of x is hashed as element
// index_base + i. Differentiable.
torch::Tensor dropout_with_seed(const torch::Tensor& x, double p, uint64_t seed,
                                uint64_t index_base = 0);

// Draws a 64-bit seed: from LibTorch's default CPU generator (thread-safe), or inside a
// DropoutStream on this thread, the stream's next seed.
uint64_t draw_seed();

// Masks keyed on the example, not on its place in a batch (data-parallel training, gradient
// accumulation). While one is alive on this thread:
// - draw_seed() returns seeds derived from `seed` and a call counter, not the generator's: the
//   k-th dropout of a forward pass gets the same seed whatever batch it runs on;
// - a dropout over a tensor whose leading dimension holds the stream's `rows` examples (any
//   layout with each example's elements contiguous: (B, T, C), (B*T, C), (B, H, T, T)) hashes
//   its element i as element first_row * (numel / rows) + i of the tensor the whole batch would
//   give, provided every part of the batch is padded to the same length.
// So rows [first_row, first_row + rows) of a batch, run alone under a stream of the same seed,
// draw exactly the masks they draw inside the whole batch.
class DropoutStream {
 public:
  DropoutStream(uint64_t seed, int64_t first_row, int64_t rows);
  ~DropoutStream();
  DropoutStream(const DropoutStream&) = delete;
  DropoutStream& operator=(const DropoutStream&) = delete;
};

// The index base of a dropout over `numel` elements: 0 outside a DropoutStream.
uint64_t dropout_index_base(int64_t numel);

// 32 random bits for element `index` under `seed`: two rounds of murmur3's fmix32 over the
// counter, all in 32-bit integer ops so that the mask loops vectorise.
inline uint32_t dropout_bits(uint64_t seed, uint64_t index) {
  auto fmix32 = [](uint32_t h) {
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    return h ^ (h >> 16);
  };
  const auto seed_lo = static_cast<uint32_t>(seed);
  const auto seed_hi = static_cast<uint32_t>(seed >> 32) ^ static_cast<uint32_t>(index >> 32);
  const uint32_t h = fmix32((static_cast<uint32_t>(index) * 0x9E3779B9u) ^ seed_lo);
  return fmix32(h + seed_hi);
}

// 2^32 * p, rounded (at most 2^32 - 1): an element is dropped when its bits are below this.
inline uint32_t dropout_threshold(double p) {
  const double t = p * 4294967296.0 + 0.5;
  return t >= 4294967295.0 ? 0xFFFFFFFFu : static_cast<uint32_t>(t);
}

// The keep/drop decisions of one dropout call, shared by dropout() and the attention kernel
// (kernels/fused_attention.cpp), so that both draw the same mask from the same seed.
struct DropoutMask {
  bool active = false;  // p > 0
  uint64_t seed = 0;
  uint32_t threshold = 0;   // dropout_threshold(p)
  double keep_scale = 1.0;  // 1 / (1 - p), the factor of a kept element
  uint64_t index_base = 0;  // added to every index (DropoutStream)

  static DropoutMask make(double p, uint64_t seed, uint64_t index_base = 0) {
    return {p > 0.0, seed, dropout_threshold(p), 1.0 / (1.0 - p), index_base};
  }
  // Whether element `index` (its flat index in the tensor the mask covers) is kept.
  bool kept(uint64_t index) const { return dropout_bits(seed, index_base + index) >= threshold; }
};

}  // namespace attnlab
