#include "model/ctc_upsample.h"

#include <ATen/ATen.h>

namespace attnlab {

CtcUpsampleImpl::CtcUpsampleImpl(const CtcUpsampleOptions& options_) : options(options_) {
  TORCH_CHECK(options.d_model > 0, "CtcUpsample: d_model must be positive, got ", options.d_model);
  TORCH_CHECK(options.factor > 0, "CtcUpsample: factor must be positive, got ", options.factor);
  proj = register_module("proj", Linear(options.d_model, options.factor * options.d_model));
}

torch::Tensor CtcUpsampleImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == options.d_model, "CtcUpsample: expected (B, T, ",
              options.d_model, "), got ", x.sizes());
  const auto B = x.size(0), T = x.size(1);
  // Under bf16 autocast proj returns bf16; the residual stream stays in x's type (float32),
  // which is what the LayerNorms after it take.
  auto y = proj(x).to(x.scalar_type());                        // (B, T, k*C)
  return y.reshape({B, T * options.factor, options.d_model});  // (B, T*k, C)
}

torch::Tensor CtcUpsampleImpl::upsample_mask(const torch::Tensor& padding_mask) const {
  TORCH_CHECK(padding_mask.dim() == 2, "CtcUpsample: padding mask must be (B, T), got ",
              padding_mask.sizes());
  return padding_mask.repeat_interleave(options.factor, /*dim=*/1);  // (B, T*k)
}

}  // namespace attnlab
