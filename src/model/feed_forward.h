#pragma once
// Position-wise feed-forward block: linear2(dropout(act(linear1(x)))).

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <string>

#include "config/enums.h"
#include "model/linear.h"

namespace attnlab {

struct FeedForwardOptions {
  int64_t d_model = 128;                      // input and output width
  int64_t d_ff = 512;                         // hidden width
  double dropout = 0.0;                       // after the activation (as in PyTorch); 0 disables
  Activation activation = Activation::kGelu;  // exact (erf) GELU or ReLU
};

// Parameters: linear1.{weight,bias} (d_ff, C), linear2.{weight,bias} (C, d_ff).
class FeedForwardImpl : public torch::nn::Module {
 public:
  explicit FeedForwardImpl(const FeedForwardOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // (B, T, C) -> (B, T, C)

  FeedForwardOptions options;
  Linear linear1{nullptr};
  Linear linear2{nullptr};
};
TORCH_MODULE(FeedForward);

}  // namespace attnlab
