#include "model/embedding.h"

#include <ATen/ATen.h>
#include <torch/nn/init.h>

#include <cmath>
#include <stdexcept>

#include "kernels/dropout.h"

namespace attnlab {

torch::Tensor sinusoidal_positions(int64_t max_len, int64_t d_model) {
  auto position = torch::arange(max_len, torch::kFloat).unsqueeze(1);  // (L, 1)
  auto div = torch::exp(torch::arange(0, d_model, 2, torch::kFloat) *
                        (-std::log(10000.0) / static_cast<double>(d_model)));  // (ceil(C/2))
  auto table = torch::zeros({max_len, d_model});                               // (L, C)
  table.index_put_({torch::indexing::Slice(), torch::indexing::Slice(0, torch::indexing::None, 2)},
                   torch::sin(position * div));
  table.index_put_({torch::indexing::Slice(), torch::indexing::Slice(1, torch::indexing::None, 2)},
                   torch::cos(position * div.slice(0, 0, d_model / 2)));
  return table;
}

EmbeddingImpl::EmbeddingImpl(const EmbeddingOptions& options_) : options(options_) {
  TORCH_CHECK(options.vocab_size > 0 && options.d_model > 0 && options.max_len > 0,
              "Embedding: vocab_size=", options.vocab_size, ", d_model=", options.d_model,
              ", max_len=", options.max_len, " must all be positive");
  token = register_module("token", torch::nn::Embedding(options.vocab_size, options.d_model));
  // N(0, 1/C): with the sqrt(C) scale the token part has unit variance.
  torch::NoGradGuard no_grad;
  torch::nn::init::normal_(token->weight, 0.0,
                           1.0 / std::sqrt(static_cast<double>(options.d_model)));
  if (options.positions == PositionKind::kLearned) {
    position = register_module("position", torch::nn::Embedding(options.max_len, options.d_model));
    torch::nn::init::normal_(position->weight, 0.0, 0.02);
  } else {
    position_table =
        register_buffer("position_table", sinusoidal_positions(options.max_len, options.d_model));
  }
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& tokens) {
  TORCH_CHECK(tokens.dim() == 2, "Embedding: tokens must be (B, T), got ", tokens.sizes());
  const auto T = tokens.size(1);
  TORCH_CHECK(T <= options.max_len, "Embedding: sequence length ", T, " exceeds max_len ",
              options.max_len);
  auto x = token(tokens) * std::sqrt(static_cast<double>(options.d_model));  // (B, T, C)
  auto pos = options.positions == PositionKind::kLearned ? position->weight.slice(0, 0, T)
                                                         : position_table.slice(0, 0, T);
  x = x + pos.unsqueeze(0);  // (B, T, C) + (1, T, C)
  return attnlab::dropout(x, options.dropout, is_training());
}

}  // namespace attnlab
