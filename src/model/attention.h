#pragma once
// Scaled dot-product attention and multi-head self-attention, on LibTorch autograd.

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "model/linear.h"

namespace attnlab {

// What attention returns: the attended values and, only when asked, the probabilities.
struct AttentionOutput {
  torch::Tensor output;   // (B, T, C) for MultiHeadAttention; (..., Tq, Dv) for the function
  torch::Tensor weights;  // (B, H, Tq, Tk) post-softmax probabilities, undefined unless asked
};

// softmax(q k^T / sqrt(d_k)) v.
//   q: (..., Tq, D), k: (..., Tk, D), v: (..., Tk, Dv).
//   mask: boolean, broadcastable to (..., Tq, Tk); true = may not attend. May be undefined.
// Masking is a select (masked_fill) on scores and on probabilities, so a query whose keys are
// all masked gets exactly zero output and finite gradients, and a non-finite score at a masked
// position never reaches the output. Softmax runs in float32 whatever the input dtype.
// `dropout` is applied to the probabilities when `training`; returned weights are pre-dropout.
AttentionOutput scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k,
                                             const torch::Tensor& v, const torch::Tensor& mask,
                                             double dropout, bool training, bool need_weights);

// Builds the boolean "may not attend" mask (B, 1, Tq|1, Tk) from a key-padding mask (B, Tk)
// and an attention mask (Tq, Tk) or (B, Tq, Tk); either may be undefined. Returns undefined
// when both are.
torch::Tensor combine_masks(const torch::Tensor& key_padding_mask, const torch::Tensor& attn_mask,
                            int64_t batch, int64_t tq, int64_t tk);

struct MultiHeadAttentionOptions {
  int64_t d_model = 128;  // width of the residual stream (C)
  int64_t num_heads = 4;  // H; must divide d_model
  double dropout = 0.0;   // on attention probabilities during training; 0 disables
  bool bias = true;       // biases on the QKV and output projections
};

// Multi-head self-attention, batch-first. One fused QKV projection, output projection.
// Parameters: in_proj.weight (3C, C) rows [q; k; v], in_proj.bias (3C), out_proj.weight (C, C),
// out_proj.bias (C) -- the same packing as torch::nn::MultiheadAttention's in_proj_weight.
class MultiHeadAttentionImpl : public torch::nn::Module {
 public:
  explicit MultiHeadAttentionImpl(const MultiHeadAttentionOptions& options);

  // x: (B, T, C); key_padding_mask: (B, T) bool, true = padding; attn_mask: (T, T) or (B, T, T)
  // bool, true = may not attend. Returns output (B, T, C) and, if need_weights, per-head
  // weights (B, H, T, T).
  AttentionOutput forward(const torch::Tensor& x, const torch::Tensor& key_padding_mask = {},
                          const torch::Tensor& attn_mask = {}, bool need_weights = false);

  void reset_parameters();

  MultiHeadAttentionOptions options;
  Linear in_proj{nullptr};
  Linear out_proj{nullptr};
};
TORCH_MODULE(MultiHeadAttention);

}  // namespace attnlab
