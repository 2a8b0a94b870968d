#pragma once
// Helpers shared by the model tests: tolerances, a central-difference gradient checker (the
// C++ API of LibTorch 1.13 has no gradcheck), weight copying into LibTorch's reference
// modules, and error-message capture. Header-only; each test file includes it.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "model/attention.h"
#include "model/encoder_layer.h"
#include "support/common.h"

namespace attnlab::test {

// Compares autograd's gradient of the scalar `loss()` with respect to each tensor in `inputs`
// (double, contiguous, requires_grad) with a central difference (loss(x+eps) - loss(x-eps)) /
// 2eps, element by element: |numeric - analytic| <= atol + rtol * |numeric|.
inline void expect_gradients_match_finite_differences(const std::function<torch::Tensor()>& loss,
                                                      const std::vector<torch::Tensor>& inputs,
                                                      double eps = 1e-6, double atol = 1e-6,
                                                      double rtol = 1e-4) {
  for (const auto& t : inputs) {
    ASSERT_EQ(t.scalar_type(), torch::kDouble) << "gradient checks run in double";
    ASSERT_TRUE(t.is_contiguous());
    ASSERT_TRUE(t.requires_grad());
  }
  auto value = loss();
  auto analytic = torch::autograd::grad({value}, inputs, /*grad_outputs=*/{},
                                        /*retain_graph=*/false, /*create_graph=*/false,
                                        /*allow_unused=*/true);
  torch::NoGradGuard no_grad;
  for (size_t n = 0; n < inputs.size(); ++n) {
    const auto& t = inputs[n];
    auto expected = analytic[n].defined() ? analytic[n].contiguous() : torch::zeros_like(t);
    ASSERT_TRUE(all_finite(expected)) << "input " << n << ": autograd gradient not finite";
    double* data = t.data_ptr<double>();
    const double* grad = expected.data_ptr<double>();
    int failures = 0;
    for (int64_t i = 0; i < t.numel() && failures < 5; ++i) {
      const double saved = data[i];
      data[i] = saved + eps;
      const double plus = loss().item<double>();
      data[i] = saved - eps;
      const double minus = loss().item<double>();
      data[i] = saved;
      const double numeric = (plus - minus) / (2.0 * eps);
      if (!(std::abs(numeric - grad[i]) <= atol + rtol * std::abs(numeric))) {
        ++failures;
        ADD_FAILURE() << "input " << n << " element " << i << ": finite difference " << numeric
                      << " vs autograd " << grad[i];
      }
    }
  }
}

// Fills every parameter of `module` with random values (so biases and LayerNorm affine
// parameters are not at their 0/1 initialisation, and copying them is actually tested).
inline void randomize_parameters(torch::nn::Module& module, double scale = 0.3) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) p.copy_(torch::randn_like(p) * scale);
}

// Copies parameters by name from `src` into `dst` (same structure, e.g. same Options but a
// different dropout).
inline void copy_parameters(const torch::nn::Module& src, torch::nn::Module& dst) {
  torch::NoGradGuard no_grad;
  auto from = src.named_parameters();
  for (auto& item : dst.named_parameters()) {
    ASSERT_TRUE(from.contains(item.key())) << item.key();
    item.value().copy_(from[item.key()]);
  }
}

// A LibTorch MultiheadAttention holding `ours`'s weights; our in_proj packs [q; k; v] rows like
// its in_proj_weight.
inline torch::nn::MultiheadAttention reference_attention(const MultiHeadAttention& ours) {
  torch::nn::MultiheadAttention ref(
      torch::nn::MultiheadAttentionOptions(ours->options.d_model, ours->options.num_heads));
  torch::NoGradGuard no_grad;
  ref->in_proj_weight.copy_(ours->in_proj->weight);
  ref->in_proj_bias.copy_(ours->in_proj->bias);
  ref->out_proj->weight.copy_(ours->out_proj->weight);
  ref->out_proj->bias.copy_(ours->out_proj->bias);
  return ref;
}

// Copies an EncoderLayer's weights into a LibTorch TransformerEncoderLayer.
inline void copy_into_reference_layer(const EncoderLayer& ours,
                                      torch::nn::TransformerEncoderLayerImpl& ref) {
  torch::NoGradGuard no_grad;
  ref.self_attn->in_proj_weight.copy_(ours->self_attention->in_proj->weight);
  ref.self_attn->in_proj_bias.copy_(ours->self_attention->in_proj->bias);
  ref.self_attn->out_proj->weight.copy_(ours->self_attention->out_proj->weight);
  ref.self_attn->out_proj->bias.copy_(ours->self_attention->out_proj->bias);
  ref.linear1->weight.copy_(ours->feed_forward->linear1->weight);
  ref.linear1->bias.copy_(ours->feed_forward->linear1->bias);
  ref.linear2->weight.copy_(ours->feed_forward->linear2->weight);
  ref.linear2->bias.copy_(ours->feed_forward->linear2->bias);
  ref.norm1->weight.copy_(ours->norm1->weight);
  ref.norm1->bias.copy_(ours->norm1->bias);
  ref.norm2->weight.copy_(ours->norm2->weight);
  ref.norm2->bias.copy_(ours->norm2->bias);
}

// Bool "may not attend" mask -> LibTorch 1.13's additive float mask (its C++ MultiheadAttention
// adds attn_mask to the scores, so a bool mask must be converted).
inline torch::Tensor additive_mask(const torch::Tensor& bool_mask) {
  return torch::zeros(bool_mask.sizes()).masked_fill(bool_mask, -INFINITY);
}

// Key padding mask (B, T) from the number of real tokens per row.
inline torch::Tensor padding_mask_from_lengths(const std::vector<int64_t>& lengths, int64_t T) {
  auto mask = torch::zeros({static_cast<int64_t>(lengths.size()), T}, torch::kBool);
  for (size_t b = 0; b < lengths.size(); ++b)
    mask[static_cast<int64_t>(b)].slice(0, lengths[b], T).fill_(true);
  return mask;
}

}  // namespace attnlab::test
