#pragma once
// attnlab::Linear: y = act(x W^T + b), the module every projection of the model is. Same
// parameters as torch::nn::Linear (weight (out, in), bias (out); the same state-dict names and
// initialisation), run by the oneDNN kernels of kernels/linear_functions.h with the bf16 weight
// copies that bf16 autocast keeps for this weight.

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <memory>

#include "kernels/activation.h"

namespace attnlab {

class LinearBf16Cache;  // kernels/linear_functions.h

struct LinearOptions {
  LinearOptions(int64_t in_features, int64_t out_features)
      : in_features(in_features), out_features(out_features) {}
  LinearOptions& bias(bool with_bias) {
    this->with_bias = with_bias;
    return *this;
  }
  int64_t in_features;
  int64_t out_features;
  bool with_bias = true;
};

class LinearImpl : public torch::nn::Module {
 public:
  explicit LinearImpl(const LinearOptions& options);
  LinearImpl(int64_t in_features, int64_t out_features)
      : LinearImpl(LinearOptions(in_features, out_features)) {}

  // x: (..., in) -> act(x W^T + b): (..., out). Float32 in, float32 out; under bf16 autocast
  // bfloat16 out (what autocast's linear returns).
  torch::Tensor forward(const torch::Tensor& x,
                        LinearActivation activation = LinearActivation::kNone);

  // torch::nn::Linear's: kaiming_uniform_(a = sqrt(5)) weight, uniform(+-1/sqrt(in)) bias.
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;

  LinearOptions options;
  torch::Tensor weight;  // (out, in)
  torch::Tensor bias;    // (out), undefined without a bias

 private:
  std::shared_ptr<LinearBf16Cache> bf16_cache_;
};
TORCH_MODULE(Linear);

}  // namespace attnlab
