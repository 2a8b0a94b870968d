#pragma once
// y = act(x W^T + b), the affine map of torch::nn::Linear, on oneDNN.
//
// LibTorch 1.13's float32 linear/addmm and their backward go to libblas.so.3, whose OpenBLAS
// kernel is slower here than oneDNN's AVX-512 sgemm (kernels/gemm.h; figures in
// docs/benchmark.md). Under bf16 autocast the forward runs a oneDNN matmul primitive
// on a bf16 copy of the weight kept in oneDNN's blocked layout (bias, and without gradients
// the activation, fused); the backward runs the input gradient on a second packed copy and
// the weight gradient as a bf16 GEMM writing float32 directly, instead of autocast's
// per-call weight cast, addmm, bf16 weight gradient and cast back. The module that owns a weight,
// its bias and its LinearBf16Cache is attnlab::Linear (model/linear.h).

#include <torch/types.h>

#include <memory>

#include "kernels/activation.h"

namespace attnlab {

// What bf16 autocast keeps for one weight: the weight rounded to bf16 in the layouts oneDNN's
// matmul prefers for x W^T (forward) and dy W (backward), and the matmul primitives built for
// the input sizes seen. The copies are remade when the weight changes (another storage or an
// in-place update, e.g. an optimizer step: once per training step). attnlab::Linear holds one
// per weight. Copies of a cache share its state.
class LinearBf16Cache {
 public:
  LinearBf16Cache();
  struct State;  // defined in linear_functions.cpp (oneDNN objects)
  std::shared_ptr<State> state;
};

// x: (..., in); weight: (out, in); bias: (out) or undefined. Returns act(x W^T + b), (..., out).
// - float32, CPU autocast off: oneDNN sgemm forward, and a backward computing dx = dy W,
//   dW = dy^T x, db = sum(dy) with the same GEMM (only the gradients autograd needs).
// - bf16 autocast on, a cache given, x float32 or bf16: returns bfloat16 (what autocast's
//   linear returns). Without gradients, the cached bf16 matmul primitive with bias and
//   activation fused. With gradients, the same matmul with bias, the activation after it,
//   and a backward of bf16 GEMMs: dx float32 for a float32 x (bf16 for a bf16 x), dW and db
//   float32. On a CPU where oneDNN has no bf16 matmul (no AVX-512), the path below instead.
// - anything else (float64, autocast without a cache): at::linear, then the activation.
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                     LinearActivation activation = LinearActivation::kNone,
                     LinearBf16Cache* cache = nullptr);

}  // namespace attnlab
