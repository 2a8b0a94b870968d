#pragma once
// The whole model: embedding -> encoder -> task head. Built from ModelOptions alone, so a
// checkpoint that carries the options can rebuild it.

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "config/enums.h"
#include "model/ctc_upsample.h"
#include "model/embedding.h"
#include "model/encoder.h"
#include "model/heads.h"
#include "model/patch_embedding.h"

namespace attnlab {

struct ModelOptions {
  EmbeddingOptions embedding;                      // vocab_size, d_model, positions, max_len
  PatchEmbeddingOptions patches;                   // image_classification: replaces `embedding`
  EncoderOptions encoder;                          // layers; layer.d_model must equal embedding's
  TaskKind task = TaskKind::kTransduction;         // which head
  int64_t num_outputs = 64;                        // target vocabulary size or number of classes
  Pooling pooling = Pooling::kCls;                 // classification only
  int64_t pad_id = 0;                              // token id that marks padding
  int64_t ctc_upsample = 2;                        // translation: k output positions per token
  CtcSplitAt ctc_split_at = CtcSplitAt::kEncoder;  // translation: split after or before the layers
};

struct ModelOutput {
  torch::Tensor logits;                // (B, T, V) transduction, (B, T*k, V) translation (id 0 =
                                       // blank), or (B, K) classification
  std::vector<torch::Tensor> weights;  // per layer (B, H, T', T') when asked; T' = T*k in
                                       // translation with ctc_split_at = embedding
  torch::Tensor lengths;               // translation: (B) int64 valid output positions (k x
                                       // source length); undefined for the other tasks
};

// Parameters: embedding.* (text) or patch_embedding.* (images), encoder.*, ctc_upsample.*
// (translation), and token_head.* or classification_head.*.
class EncoderModelImpl : public torch::nn::Module {
 public:
  explicit EncoderModelImpl(const ModelOptions& options);

  // input: (B, T) int64 tokens, positions holding pad_id masked as keys; or, for images,
  // (B, C, H, W) uint8 pixels (T = 1 + patches, nothing masked).
  ModelOutput forward(const torch::Tensor& input, bool need_weights = false);

  ModelOptions options;
  Embedding embedding{nullptr};             // text
  PatchEmbedding patch_embedding{nullptr};  // images
  Encoder encoder{nullptr};
  CtcUpsample ctc_upsample{nullptr};                // translation only
  TokenHead token_head{nullptr};                    // transduction and translation
  ClassificationHead classification_head{nullptr};  // classification only
};
TORCH_MODULE(EncoderModel);

// Number of trainable parameters.
int64_t count_parameters(const torch::nn::Module& module);

}  // namespace attnlab
