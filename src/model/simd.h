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
// plain `inline` body may stay out of line, compiled for the baseline only). Results may differ in the last
// bits between machines (vector reductions sum in a different order), never between runs.

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
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
