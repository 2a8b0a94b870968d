#include "model/linear.h"

#include <torch/nn/init.h>

#include <cmath>
#include <ostream>

#include "kernels/linear_functions.h"

namespace attnlab {

LinearImpl::LinearImpl(const LinearOptions& options_)
    : options(options_), bf16_cache_(std::make_shared<LinearBf16Cache>()) {
  TORCH_CHECK(options.in_features > 0 && options.out_features > 0,
              "Linear: in_features and out_features must be positive, got ", options.in_features,
              " and ", options.out_features);
  weight = register_parameter("weight", torch::empty({options.out_features, options.in_features}));
  if (options.with_bias)
    bias = register_parameter("bias", torch::empty({options.out_features}));
  else
    bias = register_parameter("bias", {}, /*requires_grad=*/false);  // as torch::nn::Linear
  reset_parameters();
}

void LinearImpl::reset_parameters() {
  // torch::nn::LinearImpl::reset_parameters, in the same order (same random stream).
  torch::NoGradGuard no_grad;
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(options.in_features));
    torch::nn::init::uniform_(bias, -bound, bound);
  }
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x, LinearActivation activation) {
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == options.in_features, "Linear: input must be (..., ",
              options.in_features, "), got ", x.sizes());
  return linear(x, weight, bias, activation, bf16_cache_.get());
}

void LinearImpl::pretty_print(std::ostream& stream) const {
  stream << "attnlab::Linear(in_features=" << options.in_features
         << ", out_features=" << options.out_features << ", bias=" << options.with_bias << ")";
}

}  // namespace attnlab
