#pragma once
// dropout(gelu(x)) in one pass over memory, and its backward in one pass: the feed-forward
// layer's hidden activation while training.
//
// Unfused, the (B, T, d_ff) hidden tensor (the largest activation of the encoder) makes four
// element-wise passes per step besides its two GEMMs: GELU, dropout, dropout's backward and
// GELU's backward (`aten::gelu_backward` alone was ~3.5% of a bf16 medium training step). Here
// the forward writes dropout(gelu(x)) and the backward grad * mask * gelu'(x), recomputed from
// x (kept for the backward, as GELU's own backward keeps it) and the dropout seed; the mask
// is the one dropout_with_seed (kernels/dropout.h) draws on the same flat indices.
//
// GELU is the exact one, x * Phi(x): erf from Abramowitz & Stegun 7.1.26 (absolute error
// <= 1.5e-7, the approximation ATen's own vectorised GELU uses) with one exp per element,
// shared with the normal density in the derivative. float32 and bfloat16 (computed in
// float32, stored rounded); other types take dropout(at::gelu(x)).

#include <torch/types.h>

#include <cstdint>

namespace attnlab {

// Training: dropout(gelu(x), p) with a seed from the default generator; not training or
// p == 0: gelu(x). Differentiable. Requires 0 <= p < 1.
torch::Tensor gelu_dropout(const torch::Tensor& x, double p, bool training);

// The same with a given seed: equals dropout_with_seed(at::gelu(x), p, seed) up to the erf
// approximation (and bf16 rounding for bf16 x). Differentiable.
// index_base as for dropout_with_seed.
torch::Tensor gelu_dropout_with_seed(const torch::Tensor& x, double p, uint64_t seed,
                                     uint64_t index_base = 0);

}  // namespace attnlab
