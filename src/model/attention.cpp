#include "model/attention.h"

#include <ATen/ATen.h>
#include <torch/nn/init.h>

#include <cmath>
#include <limits>

#include "kernels/fused_attention.h"

namespace attnlab {

torch::Tensor combine_masks(const torch::Tensor& key_padding_mask, const torch::Tensor& attn_mask,
                            int64_t batch, int64_t tq, int64_t tk) {
  torch::Tensor mask;
  if (key_padding_mask.defined()) {
    TORCH_CHECK(key_padding_mask.scalar_type() == at::kBool,
                "key_padding_mask must be bool (true = padding), got ",
                key_padding_mask.scalar_type());
    TORCH_CHECK(key_padding_mask.dim() == 2 && key_padding_mask.size(0) == batch &&
                    key_padding_mask.size(1) == tk,
                "key_padding_mask must be (B, T) = (", batch, ", ", tk, "), got ",
                key_padding_mask.sizes());
    mask = key_padding_mask.view({batch, 1, 1, tk});  // (B, 1, 1, Tk)
  }
  if (attn_mask.defined()) {
    TORCH_CHECK(attn_mask.scalar_type() == at::kBool,
                "attn_mask must be bool (true = may not attend), got ", attn_mask.scalar_type());
    torch::Tensor m;
    if (attn_mask.dim() == 2) {
      TORCH_CHECK(attn_mask.size(0) == tq && attn_mask.size(1) == tk, "attn_mask must be (", tq,
                  ", ", tk, "), got ", attn_mask.sizes());
      m = attn_mask.view({1, 1, tq, tk});  // (1, 1, Tq, Tk)
    } else {
      TORCH_CHECK(attn_mask.dim() == 3 && attn_mask.size(0) == batch && attn_mask.size(1) == tq &&
                      attn_mask.size(2) == tk,
                  "attn_mask must be (T, T) or (B, T, T) = (", batch, ", ", tq, ", ", tk, "), got ",
                  attn_mask.sizes());
      m = attn_mask.view({batch, 1, tq, tk});  // (B, 1, Tq, Tk)
    }
    mask = mask.defined() ? mask.logical_or(m) : m;
  }
  return mask;
}

AttentionOutput scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k,
                                             const torch::Tensor& v, const torch::Tensor& mask,
                                             double dropout, bool training, bool need_weights) {
  TORCH_CHECK(q.dim() >= 2 && q.dim() == k.dim() && k.dim() == v.dim(),
              "q, k, v must have the same rank >= 2, got ", q.sizes(), ", ", k.sizes(), ", ",
              v.sizes());
  TORCH_CHECK(q.size(-1) == k.size(-1), "q and k must share the last dim, got ", q.sizes(), " and ",
              k.sizes());
  TORCH_CHECK(k.size(-2) == v.size(-2), "k and v must have the same number of keys, got ",
              k.sizes(), " and ", v.sizes());
  TORCH_CHECK(dropout >= 0.0 && dropout < 1.0, "attention dropout must be in [0, 1), got ",
              dropout);
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));

  // Scale the smaller operand: (Tq, D) instead of (Tq, Tk).
  auto scores = torch::matmul(q * scale, k.transpose(-2, -1));  // (..., Tq, Tk)
  // Softmax in float32 (float64 for double inputs, e.g. gradient checks).
  const auto compute_dtype = scores.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  if (mask.defined()) {
    TORCH_CHECK(mask.scalar_type() == at::kBool, "attention mask must be bool, got ",
                mask.scalar_type());
    // A finite fill keeps fully masked rows finite (uniform) before the second select.
    scores = scores.to(compute_dtype).masked_fill(mask, -std::numeric_limits<float>::max());
  }
  auto probs = torch::softmax(scores, -1, compute_dtype);  // (..., Tq, Tk)
  if (mask.defined()) probs = probs.masked_fill(mask, 0.0);

  AttentionOutput result;
  if (need_weights) result.weights = probs;
  auto attended = (training && dropout > 0.0) ? torch::dropout(probs, dropout, true) : probs;
  result.output = torch::matmul(attended.to(v.scalar_type()), v);  // (..., Tq, Dv)
  return result;
}

MultiHeadAttentionImpl::MultiHeadAttentionImpl(const MultiHeadAttentionOptions& options_)
    : options(options_) {
  TORCH_CHECK(options.d_model > 0, "MultiHeadAttention: d_model must be positive, got ",
              options.d_model);
  TORCH_CHECK(options.num_heads > 0 && options.d_model % options.num_heads == 0,
              "MultiHeadAttention: num_heads=", options.num_heads,
              " must be positive and divide d_model=", options.d_model);
  TORCH_CHECK(options.dropout >= 0.0 && options.dropout < 1.0,
              "MultiHeadAttention: dropout must be in [0, 1), got ", options.dropout);
  const auto C = options.d_model;
  in_proj = register_module("in_proj", Linear(LinearOptions(C, 3 * C).bias(options.bias)));
  out_proj = register_module("out_proj", Linear(LinearOptions(C, C).bias(options.bias)));
  reset_parameters();
}

void MultiHeadAttentionImpl::reset_parameters() {
  // Same initialisation as torch::nn::MultiheadAttention.
  torch::NoGradGuard no_grad;
  torch::nn::init::xavier_uniform_(in_proj->weight);
  if (options.bias) {
    in_proj->bias.zero_();
    out_proj->bias.zero_();
  }
}

AttentionOutput MultiHeadAttentionImpl::forward(const torch::Tensor& x,
                                                const torch::Tensor& key_padding_mask,
                                                const torch::Tensor& attn_mask, bool need_weights) {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == options.d_model,
              "MultiHeadAttention: input must be (B, T, ", options.d_model, "), got ", x.sizes());
  const auto B = x.size(0), T = x.size(1);

  auto qkv = in_proj(x);                                            // (B, T, 3C) = [q | k | v]
  auto mask = combine_masks(key_padding_mask, attn_mask, B, T, T);  // (B|1, 1, T|1, T)
  // Heads are read in place from qkv and written merged: (B, T, H*D), no split/merge copies.
  auto attended = fused_self_attention(qkv, options.num_heads, mask, options.dropout, is_training(),
                                       need_weights);
  return {out_proj(attended.output), attended.weights};  // (B, T, C)
}

}  // namespace attnlab
