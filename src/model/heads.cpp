#include "model/heads.h"

#include <ATen/ATen.h>

#include <stdexcept>

namespace attnlab {

torch::Tensor pool(const torch::Tensor& hidden, const torch::Tensor& padding_mask,
                   Pooling pooling) {
  TORCH_CHECK(hidden.dim() == 3, "pool: hidden must be (B, T, C), got ", hidden.sizes());
  if (pooling == Pooling::kCls) return hidden.select(1, 0);                       // (B, C)
  if (!padding_mask.defined()) return hidden.mean(1);                             // (B, C)
  auto keep = padding_mask.logical_not().unsqueeze(-1).to(hidden.scalar_type());  // (B, T, 1)
  auto count = keep.sum(1).clamp_min(1.0);                                        // (B, 1)
  return (hidden * keep).sum(1) / count;                                          // (B, C)
}

ClassificationHeadImpl::ClassificationHeadImpl(const ClassificationHeadOptions& options_)
    : options(options_) {
  TORCH_CHECK(options.num_classes > 1, "ClassificationHead: num_classes must be > 1, got ",
              options.num_classes);
  classifier = register_module("classifier", Linear(options.d_model, options.num_classes));
}

torch::Tensor ClassificationHeadImpl::forward(const torch::Tensor& hidden,
                                              const torch::Tensor& padding_mask) {
  return classifier(pool(hidden, padding_mask, options.pooling));  // (B, K)
}

TokenHeadImpl::TokenHeadImpl(const TokenHeadOptions& options_) : options(options_) {
  TORCH_CHECK(options.num_outputs > 0, "TokenHead: num_outputs must be positive, got ",
              options.num_outputs);
  proj = register_module("proj", Linear(options.d_model, options.num_outputs));
}

torch::Tensor TokenHeadImpl::forward(const torch::Tensor& hidden) {
  return proj(hidden);  // (B, T, num_outputs)
}

}  // namespace attnlab
