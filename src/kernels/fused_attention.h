#pragma once
// Multi-head self-attention core as one kernel per (batch, head), forward and backward.
//
// LibTorch 1.13 runs a batched matmul of many small matrices (B*H heads of T x D) as a serial
// loop of BLAS calls, each spread over all threads, and materialises scores, masked scores,
// probabilities and dropout masks as separate (B, H, T, T) tensors. Here each (b, h) is one
// task of a parallel loop: a single-threaded GEMM for q k^T reading q and k in place from the
// fused projection (B, T, 3C), mask + softmax + dropout on the (T, T) block while it is in
// cache, a GEMM with v written straight into the merged (B, T, C) output. No head split or
// merge copies. The GEMMs are oneDNN's (kernels/gemm.h). Backward recomputes the dropout mask
// from its seed (kernels/dropout.h) and keeps only the probabilities from the forward pass.

#include <torch/types.h>

#include <cstdint>

namespace attnlab {

struct FusedAttentionOutput {
  torch::Tensor output;   // (B, T, C), dtype of the input (float32 for float16 input)
  torch::Tensor weights;  // (B, H, T, T) probabilities before dropout, if asked (float32;
                          // float64 for float64 input)
};

// qkv: (B, T, 3C) = [q | k | v], each C = H * D wide, head-major (the layout of the fused
//      in_proj of torch::nn::MultiheadAttention). float32, float64 or bfloat16. bfloat16
//      runs bf16 GEMMs (kernels/gemm.h) with float32 scores, softmax and softmax gradients;
//      the probabilities are rounded to bf16 only as the operand of the products with v and
//      the output gradient. float16 is computed in float32.
// mask: bool, broadcastable to (B, 1, T, T), true = may not attend (see combine_masks);
//       may be undefined. A query whose keys are all masked gets exactly zero output.
// dropout: on the probabilities when training, with the same mask as
//       dropout_with_seed(probs, p, seed) on the contiguous (B, H, T, T) probabilities.
// Differentiable with respect to qkv; the returned weights are not differentiable.
FusedAttentionOutput fused_self_attention(const torch::Tensor& qkv, int64_t num_heads,
                                          const torch::Tensor& mask, double dropout, bool training,
                                          bool need_weights);

// The same with a given dropout seed instead of one drawn from the default generator.
FusedAttentionOutput fused_self_attention_with_seed(const torch::Tensor& qkv, int64_t num_heads,
                                                    const torch::Tensor& mask, double dropout,
                                                    uint64_t seed, bool need_weights);

}  // namespace attnlab
