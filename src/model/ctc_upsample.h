#pragma once
// CTC state splitting (Libovicky & Helcl, 2018): every position of a (B, T, C) sequence becomes
// k positions through one learned projection, so a non-autoregressive encoder has room to emit
// a target longer than its source, with the blanks CTC needs.

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

#include "model/linear.h"

namespace attnlab {

struct CtcUpsampleOptions {
  int64_t d_model = 128;  // C, in and out
  int64_t factor = 2;     // k
};

// Parameters: proj.{weight,bias} (k*C, C). Output position t*k + j is slice j of proj(x_t).
class CtcUpsampleImpl : public torch::nn::Module {
 public:
  explicit CtcUpsampleImpl(const CtcUpsampleOptions& options);

  // (B, T, C) -> (B, T*k, C), in x's dtype (also under bf16 autocast).
  torch::Tensor forward(const torch::Tensor& x);
  // (B, T) bool padding mask -> (B, T*k): each position's k copies share its flag.
  torch::Tensor upsample_mask(const torch::Tensor& padding_mask) const;

  CtcUpsampleOptions options;
  Linear proj{nullptr};
};
TORCH_MODULE(CtcUpsample);

}  // namespace attnlab
