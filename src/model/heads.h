#pragma once
// Task heads on top of the encoder's hidden states.

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <string>

#include "config/enums.h"
#include "model/linear.h"

namespace attnlab {

// Pools (B, T, C) to (B, C): the first position (where the <cls> token sits) or the mean over
// non-padded positions. padding_mask (B, T) bool, true = padding; may be undefined.
torch::Tensor pool(const torch::Tensor& hidden, const torch::Tensor& padding_mask, Pooling pooling);

struct ClassificationHeadOptions {
  int64_t d_model = 128;            // input width
  int64_t num_classes = 3;          // output classes
  Pooling pooling = Pooling::kCls;  // how the sequence is pooled
};

// Sequence classification. Parameters: classifier.{weight,bias} (K, C).
class ClassificationHeadImpl : public torch::nn::Module {
 public:
  explicit ClassificationHeadImpl(const ClassificationHeadOptions& options);
  // hidden (B, T, C), padding_mask (B, T) -> logits (B, K)
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& padding_mask);

  ClassificationHeadOptions options;
  Linear classifier{nullptr};
};
TORCH_MODULE(ClassificationHead);

struct TokenHeadOptions {
  int64_t d_model = 128;     // input width
  int64_t num_outputs = 64;  // output vocabulary size
};

// Per-token output (transduction). Parameters: proj.{weight,bias} (V, C).
class TokenHeadImpl : public torch::nn::Module {
 public:
  explicit TokenHeadImpl(const TokenHeadOptions& options);
  torch::Tensor forward(const torch::Tensor& hidden);  // (B, T, C) -> (B, T, V)

  TokenHeadOptions options;
  Linear proj{nullptr};
};
TORCH_MODULE(TokenHead);

}  // namespace attnlab
