#include "model/feed_forward.h"

#include <ATen/ATen.h>

#include <stdexcept>

#include "kernels/dropout.h"
#include "kernels/gelu_dropout.h"

namespace attnlab {

FeedForwardImpl::FeedForwardImpl(const FeedForwardOptions& options_) : options(options_) {
  TORCH_CHECK(options.d_model > 0 && options.d_ff > 0, "FeedForward: d_model=", options.d_model,
              " and d_ff=", options.d_ff, " must be positive");
  TORCH_CHECK(options.dropout >= 0.0 && options.dropout < 1.0,
              "FeedForward: dropout must be in [0, 1), got ", options.dropout);
  linear1 = register_module("linear1", Linear(options.d_model, options.d_ff));
  linear2 = register_module("linear2", Linear(options.d_ff, options.d_model));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) {
  torch::Tensor hidden;  // (B, T, d_ff)
  if (options.activation == Activation::kGelu && is_training()) {
    // GELU and dropout in one pass each way (kernels/gelu_dropout.h).
    hidden = linear1(x);
    hidden = gelu_dropout(hidden, options.dropout, /*training=*/true);
  } else {
    // Evaluation: the activation fused into the GEMM where the kernel can (bf16).
    const auto activation =
        options.activation == Activation::kRelu ? LinearActivation::kRelu : LinearActivation::kGelu;
    hidden = linear1(x, activation);
    hidden = attnlab::dropout(hidden, options.dropout, is_training());
  }
  return linear2(hidden);  // (B, T, C)
}

}  // namespace attnlab
