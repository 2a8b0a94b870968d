#pragma once
// A stack of encoder layers, with a final LayerNorm when the layers are pre-LN.

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "model/encoder_layer.h"

namespace attnlab {

struct EncoderOptions {
  EncoderLayerOptions layer;  // options shared by every layer
  int64_t num_layers = 3;     // N
};

struct EncoderOutput {
  torch::Tensor hidden;                // (B, T, C)
  std::vector<torch::Tensor> weights;  // one (B, H, T, T) per layer when asked, else empty
};

// Parameters: layers.<i>.* for i in [0, N), final_norm.{weight,bias} (pre-LN only).
class EncoderImpl : public torch::nn::Module {
 public:
  explicit EncoderImpl(const EncoderOptions& options);

  // x: (B, T, C). Every layer's attention weights come from the same forward pass.
  EncoderOutput forward(const torch::Tensor& x, const torch::Tensor& key_padding_mask = {},
                        const torch::Tensor& attn_mask = {}, bool need_weights = false);

  EncoderOptions options;
  torch::nn::ModuleList layers{nullptr};
  torch::nn::LayerNorm final_norm{nullptr};  // null for post-LN
};
TORCH_MODULE(Encoder);

}  // namespace attnlab
