#include "model/encoder_layer.h"

#include <ATen/ATen.h>

#include "kernels/dropout.h"

namespace attnlab {

EncoderLayerImpl::EncoderLayerImpl(const EncoderLayerOptions& options_) : options(options_) {
  TORCH_CHECK(options.dropout >= 0.0 && options.dropout < 1.0,
              "EncoderLayer: dropout must be in [0, 1), got ", options.dropout);
  MultiHeadAttentionOptions attention;
  attention.d_model = options.d_model;
  attention.num_heads = options.num_heads;
  attention.dropout = options.attention_dropout;
  self_attention = register_module("self_attention", MultiHeadAttention(attention));

  FeedForwardOptions ff;
  ff.d_model = options.d_model;
  ff.d_ff = options.d_ff;
  ff.dropout = options.dropout;
  ff.activation = options.activation;
  feed_forward = register_module("feed_forward", FeedForward(ff));

  const auto norm = torch::nn::LayerNormOptions({options.d_model}).eps(options.layer_norm_eps);
  norm1 = register_module("norm1", torch::nn::LayerNorm(norm));
  norm2 = register_module("norm2", torch::nn::LayerNorm(norm));
}

LayerOutput EncoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& key_padding_mask,
                                      const torch::Tensor& attn_mask, bool need_weights) {
  auto residual_dropout = [&](const torch::Tensor& t) {
    return attnlab::dropout(t, options.dropout, is_training());
  };
  if (options.norm_first) {
    auto attended = self_attention(norm1(x), key_padding_mask, attn_mask, need_weights);
    auto h = x + residual_dropout(attended.output);           // (B, T, C)
    auto out = h + residual_dropout(feed_forward(norm2(h)));  // (B, T, C)
    return {out, attended.weights};
  }
  auto attended = self_attention(x, key_padding_mask, attn_mask, need_weights);
  auto h = norm1(x + residual_dropout(attended.output));    // (B, T, C)
  auto out = norm2(h + residual_dropout(feed_forward(h)));  // (B, T, C)
  return {out, attended.weights};
}

}  // namespace attnlab
