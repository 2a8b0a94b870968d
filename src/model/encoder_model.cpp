#include "model/encoder_model.h"

#include <ATen/ATen.h>

namespace attnlab {

EncoderModelImpl::EncoderModelImpl(const ModelOptions& options_) : options(options_) {
  const bool images = options.task == TaskKind::kImageClassification;
  const int64_t d_model = images ? options.patches.d_model : options.embedding.d_model;
  TORCH_CHECK(d_model == options.encoder.layer.d_model, "EncoderModel: the ",
              images ? "patch " : "", "embedding's d_model=", d_model,
              " differs from encoder.layer.d_model=", options.encoder.layer.d_model);
  if (images)
    patch_embedding = register_module("patch_embedding", PatchEmbedding(options.patches));
  else
    embedding = register_module("embedding", Embedding(options.embedding));
  encoder = register_module("encoder", Encoder(options.encoder));
  if (options.task == TaskKind::kTranslation) {
    ctc_upsample = register_module(
        "ctc_upsample",
        CtcUpsample(CtcUpsampleOptions{options.embedding.d_model, options.ctc_upsample}));
  }
  if (has_target_sequence(options.task)) {
    token_head =
        register_module("token_head", TokenHead(TokenHeadOptions{d_model, options.num_outputs}));
  } else {
    classification_head =
        register_module("classification_head", ClassificationHead(ClassificationHeadOptions{
                                                   d_model, options.num_outputs, options.pooling}));
  }
}

ModelOutput EncoderModelImpl::forward(const torch::Tensor& input, bool need_weights) {
  if (patch_embedding) {
    auto encoded = encoder->forward(patch_embedding(input), torch::Tensor(), torch::Tensor(),
                                    need_weights);  // (B, 1 + N, C)
    ModelOutput result;
    result.weights = std::move(encoded.weights);
    result.logits = classification_head(encoded.hidden, torch::Tensor());  // (B, K)
    return result;
  }
  const auto& tokens = input;
  TORCH_CHECK(tokens.dim() == 2 && tokens.scalar_type() == at::kLong,
              "EncoderModel: tokens must be (B, T) int64, got ", tokens.sizes(), " ",
              tokens.scalar_type());
  auto padding_mask = tokens.eq(options.pad_id);  // (B, T), true = padding
  auto x = embedding(tokens);                     // (B, T, C)
  ModelOutput result;
  if (ctc_upsample) {
    result.lengths = padding_mask.logical_not().sum(1) * options.ctc_upsample;  // (B)
    if (options.ctc_split_at == CtcSplitAt::kEmbedding) {
      x = ctc_upsample(x);                                       // (B, T*k, C)
      padding_mask = ctc_upsample->upsample_mask(padding_mask);  // (B, T*k)
    }
  }
  auto encoded = encoder->forward(x, padding_mask, torch::Tensor(), need_weights);
  if (ctc_upsample && options.ctc_split_at == CtcSplitAt::kEncoder) {
    encoded.hidden = ctc_upsample(encoded.hidden);  // (B, T*k, C)
  }
  result.weights = std::move(encoded.weights);
  result.logits =
      token_head ? token_head(encoded.hidden) : classification_head(encoded.hidden, padding_mask);
  return result;
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

}  // namespace attnlab
