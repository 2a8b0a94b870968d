#include "model/encoder.h"

#include <ATen/ATen.h>

namespace attnlab {

EncoderImpl::EncoderImpl(const EncoderOptions& options_) : options(options_) {
  TORCH_CHECK(options.num_layers > 0, "Encoder: num_layers must be positive, got ",
              options.num_layers);
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.num_layers; ++i) layers->push_back(EncoderLayer(options.layer));
  if (options.layer.norm_first) {
    final_norm = register_module(
        "final_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({options.layer.d_model})
                                               .eps(options.layer.layer_norm_eps)));
  }
}

EncoderOutput EncoderImpl::forward(const torch::Tensor& x, const torch::Tensor& key_padding_mask,
                                   const torch::Tensor& attn_mask, bool need_weights) {
  EncoderOutput result;
  auto hidden = x;  // (B, T, C)
  for (const auto& module : *layers) {
    auto out =
        module->as<EncoderLayerImpl>()->forward(hidden, key_padding_mask, attn_mask, need_weights);
    hidden = out.output;
    if (need_weights) result.weights.push_back(out.weights);
  }
  result.hidden = final_norm ? final_norm(hidden) : hidden;
  return result;
}

}  // namespace attnlab
