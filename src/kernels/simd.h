#pragma once
// ATTNLAB_VECTOR_CLONES: compile a function for several x86-64 levels and pick the best one
// for the CPU at load time (GCC function multi-versioning). LibTorch's headers and our build
// target baseline x86-64 (SSE2), where the element loops of our kernels (softmax rows, dropout
// masks, bf16 rounding) vectorise 4 floats wide; the AVX-512 clone runs them 16 wide, with
// AVX-512 compares and masks (perf showed the baseline softmax rows at 9-11% of a bf16
// forward-only run before the clones; `attnlab bench --kernels` times the kernels with them).
//
// Use it on non-template functions; put the loop in an ATTNLAB_INLINE template and call it from
// the cloned function: the body is inlined into each clone and compiled for its target (a
// plain `inline` body may stay out of line, compiled for the baseline only). Results may differ in
// the last bits between machines (vector reductions sum in a different order), never between runs.
//
// Also the element helpers those loops share, written so that they vectorise: store() (bf16
// rounding) and exp_nonpositive() (the softmax's and the GELU's exp).

#include <c10/util/BFloat16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

// Not under ThreadSanitizer: the clones are picked by an ifunc resolver, which the dynamic
// loader runs before TSan's runtime has started, and TSan instruments it (a crash at load).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define ATTNLAB_VECTOR_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ATTNLAB_VECTOR_CLONES
#endif

#if defined(__GNUC__)
#define ATTNLAB_INLINE inline __attribute__((always_inline))
#else
#define ATTNLAB_INLINE inline
#endif

namespace attnlab {

// Stores v in dst's type: float and double as they are, bfloat16 rounded to nearest even
// (c10::BFloat16's rounding, written branch-free so that the element loops vectorise).
ATTNLAB_INLINE void store(float& dst, float v) { dst = v; }
ATTNLAB_INLINE void store(double& dst, double v) { dst = v; }
ATTNLAB_INLINE void store(c10::BFloat16& dst, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  const uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
  dst.x = v != v ? uint16_t{0x7FC0} : static_cast<uint16_t>(rounded);  // NaN stays NaN
}

// exp(x) for x <= 0 (a softmax after subtracting the row max, a normal density): 2^n * 2^f
// with a degree-7 Taylor polynomial for 2^f, |f| <= 1/2 (relative error < 1e-8, below float
// rounding). Branch-free so that the element loops vectorise; std::exp is a scalar libm call.
ATTNLAB_INLINE float exp_nonpositive(float x) {
  x = std::max(x, -87.0f);  // exp(-87) ~ 1.6e-38, still a normal float
  const float t = x * 1.44269504088896341f;
  const float n = (t + 12582912.0f) - 12582912.0f;  // round to nearest (|t| < 2^22)
  const float f = t - n;
  float p = 1.5252733804059841e-5f;
  p = p * f + 1.5403530393381609e-4f;
  p = p * f + 1.3333558146428443e-3f;
  p = p * f + 9.6181291076284772e-3f;
  p = p * f + 5.5504108664821580e-2f;
  p = p * f + 2.4022650695910071e-1f;
  p = p * f + 6.9314718055994531e-1f;
  p = p * f + 1.0f;
  // n is in [-126, 0] for x in [-87, 0]. A NaN x gives a NaN n, whose conversion to int is
  // undefined (UBSan found it: GELU of NaN); p is NaN already, so 2^0 keeps the result NaN.
  const float n_defined = n == n ? std::min(n, 0.0f) : 0.0f;
  const uint32_t exponent = static_cast<uint32_t>(static_cast<int32_t>(n_defined) + 127) << 23;
  float scale;
  std::memcpy(&scale, &exponent, sizeof scale);
  return p * scale;
}
inline double exp_nonpositive(double x) { return std::exp(x); }

}  // namespace attnlab
