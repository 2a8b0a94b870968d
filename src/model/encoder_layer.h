#pragma once
// One Transformer encoder layer: self-attention and feed-forward, each with a residual
// connection, LayerNorm before (pre-LN) or after (post-LN, as in the original Transformer).

#include <torch/nn/module.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "model/attention.h"
#include "model/feed_forward.h"

namespace attnlab {

struct EncoderLayerOptions {
  int64_t d_model = 128;                      // width of the residual stream
  int64_t num_heads = 4;                      // must divide d_model
  int64_t d_ff = 512;                         // feed-forward hidden width
  double dropout = 0.1;                       // residual and feed-forward dropout
  double attention_dropout = 0.0;             // on attention probabilities
  Activation activation = Activation::kGelu;  // feed-forward activation
  bool norm_first = true;                     // pre-LN (true) or post-LN (false)
  double layer_norm_eps = 1e-5;               // LayerNorm epsilon
};

// Output of a layer: hidden states and, when asked, per-head attention weights (B, H, T, T).
using LayerOutput = AttentionOutput;

// Parameters: self_attention.*, feed_forward.*, norm1.{weight,bias} (before/after attention),
// norm2.{weight,bias} (before/after feed-forward).
class EncoderLayerImpl : public torch::nn::Module {
 public:
  explicit EncoderLayerImpl(const EncoderLayerOptions& options);

  // x: (B, T, C); masks as in MultiHeadAttention. Returns (B, T, C) and optional weights.
  LayerOutput forward(const torch::Tensor& x, const torch::Tensor& key_padding_mask = {},
                      const torch::Tensor& attn_mask = {}, bool need_weights = false);

  EncoderLayerOptions options;
  MultiHeadAttention self_attention{nullptr};
  FeedForward feed_forward{nullptr};
  torch::nn::LayerNorm norm1{nullptr};
  torch::nn::LayerNorm norm2{nullptr};
};
TORCH_MODULE(EncoderLayer);

}  // namespace attnlab
