#pragma once
// Token embedding scaled by sqrt(d_model), plus sinusoidal or learned positions, plus dropout.

#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/pimpl.h>

#include <string>

#include "config/enums.h"

namespace attnlab {

struct EmbeddingOptions {
  int64_t vocab_size = 64;                             // number of token ids
  int64_t d_model = 128;                               // embedding width
  int64_t max_len = 256;                               // longest sequence positions cover
  PositionKind positions = PositionKind::kSinusoidal;  // position encoding
  double dropout = 0.0;                                // after the sum; 0 disables
};

// Sinusoidal table (max_len, d_model) from "Attention Is All You Need", section 3.5.
torch::Tensor sinusoidal_positions(int64_t max_len, int64_t d_model);

// Parameters: token.weight (V, C); position.weight (max_len, C) when learned. Sinusoidal
// positions are a buffer, position_table (max_len, C).
class EmbeddingImpl : public torch::nn::Module {
 public:
  explicit EmbeddingImpl(const EmbeddingOptions& options);
  torch::Tensor forward(const torch::Tensor& tokens);  // (B, T) int64 -> (B, T, C)

  EmbeddingOptions options;
  torch::nn::Embedding token{nullptr};
  torch::nn::Embedding position{nullptr};  // learned positions only
  torch::Tensor position_table;            // sinusoidal positions only
};
TORCH_MODULE(Embedding);

}  // namespace attnlab
