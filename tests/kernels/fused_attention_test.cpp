// The fused self-attention kernel against a reference composed from ATen primitives.
#include "kernels/fused_attention.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "kernels/dropout.h"
#include "model/attention.h"
#include "support/model_helpers.h"

using namespace attnlab;
using attnlab::test::all_finite;
using attnlab::test::max_abs_diff;

namespace {

constexpr int64_t kB = 3, kT = 7, kH = 2, kD = 5, kC = kH * kD;

struct Reference {
  torch::Tensor output;  // (B, T, C)
  torch::Tensor probs;   // (B, H, T, T), before dropout
};

// softmax(q k^T / sqrt(D)) v per head, by hand: masked scores -> -inf, fully masked rows ->
// zeros, dropout via dropout_with_seed on the contiguous (B, H, T, T) probabilities.
Reference reference_attention(const torch::Tensor& qkv, const torch::Tensor& mask, double p,
                              uint64_t seed, int64_t H = kH) {
  const auto B = qkv.size(0), T = qkv.size(1), C = qkv.size(2) / 3, D = C / H;
  auto heads = qkv.view({B, T, 3, H, D}).permute({2, 0, 3, 1, 4});  // (3, B, H, T, D)
  auto scores = torch::matmul(heads[0], heads[1].transpose(-2, -1)) / std::sqrt(double(D));
  if (mask.defined()) scores = scores.masked_fill(mask, -INFINITY);
  auto probs = torch::softmax(scores, -1);
  probs = torch::where(torch::isnan(probs), torch::zeros_like(probs), probs);  // all masked
  auto attended = p > 0 ? dropout_with_seed(probs.contiguous(), p, seed) : probs;
  auto out = torch::matmul(attended, heads[2]).transpose(1, 2).reshape({B, T, C});
  return {out, probs};
}

torch::Tensor padding_mask() {
  auto kpm = torch::zeros({kB, kT}, torch::kBool);
  kpm.index_put_({1, torch::indexing::Slice(4, kT)}, true);  // example 1: 4 real tokens
  kpm.index_put_({2, torch::indexing::Slice(1, kT)}, true);  // example 2: 1 real token
  return combine_masks(kpm, {}, kB, kT, kT);                 // (B, 1, 1, T)
}

void expect_matches_reference(const torch::Tensor& mask, double p, double tolerance) {
  torch::manual_seed(4);
  auto qkv = torch::randn({kB, kT, 3 * kC}, torch::kDouble).requires_grad_();
  auto qkv_ref = qkv.detach().clone().requires_grad_();
  auto upstream = torch::randn({kB, kT, kC}, torch::kDouble);
  auto fused = fused_self_attention_with_seed(qkv, kH, mask, p, /*seed=*/99, true);
  auto ref = reference_attention(qkv_ref, mask, p, 99);
  EXPECT_LT(max_abs_diff(fused.output, ref.output), tolerance);
  EXPECT_LT(max_abs_diff(fused.weights, ref.probs), tolerance);
  (fused.output * upstream).sum().backward();
  (ref.output * upstream).sum().backward();
  EXPECT_LT(max_abs_diff(qkv.grad(), qkv_ref.grad()), tolerance);
}

}  // namespace

TEST(FusedAttention, MatchesReferenceWithoutMask) { expect_matches_reference({}, 0.0, 1e-12); }

TEST(FusedAttention, MatchesReferenceWithPaddingAndCausalMasks) {
  expect_matches_reference(padding_mask(), 0.0, 1e-12);
  auto causal = torch::ones({kT, kT}, torch::kBool).triu(1);
  expect_matches_reference(combine_masks({}, causal, kB, kT, kT), 0.0, 1e-12);
  auto per_example = torch::rand({kB, kT, kT}) > 0.6;
  per_example.select(2, 0).fill_(true);  // key 0 masked everywhere
  per_example.index_put_({0, 2}, true);  // example 0, query 2: every key masked
  expect_matches_reference(combine_masks({}, per_example, kB, kT, kT), 0.0, 1e-12);
}

TEST(FusedAttention, DropoutMatchesDropoutWithSeedOnTheProbabilities) {
  expect_matches_reference({}, 0.3, 1e-12);
  expect_matches_reference(padding_mask(), 0.5, 1e-12);
}

TEST(FusedAttention, FloatMatchesDoubleAndFullyMaskedQueriesGiveZeros) {
  torch::manual_seed(5);
  auto qkv = torch::randn({kB, kT, 3 * kC}, torch::kDouble);
  auto per_example = torch::zeros({kB, kT, kT}, torch::kBool);
  per_example.index_put_({1, 3}, true);  // example 1, query 3: every key masked
  auto mask = combine_masks({}, per_example, kB, kT, kT);
  auto x = qkv.to(torch::kFloat).requires_grad_();
  auto result = fused_self_attention_with_seed(x, kH, mask, 0.0, 0, true);
  auto ref = reference_attention(qkv, mask, 0.0, 0);
  EXPECT_EQ(result.output.scalar_type(), torch::kFloat);
  EXPECT_LT(max_abs_diff(result.output, ref.output), 1e-5);
  EXPECT_EQ(result.output.index({1, 3}).abs().max().item<double>(), 0.0);
  EXPECT_EQ(result.weights.index({1, torch::indexing::Slice(), 3}).abs().max().item<double>(), 0.0);
  auto sums = result.weights.sum(-1);  // rows sum to 1 except the fully masked one
  EXPECT_NEAR(sums.index({0}).min().item<double>(), 1.0, 1e-6);
  result.output.sum().backward();
  EXPECT_TRUE(all_finite(x.grad()));
}

namespace {

// |a - b| relative to the largest |b|.
double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  return max_abs_diff(a, b) / b.abs().max().item<double>();
}

// bf16 inputs: bf16 GEMMs with float32 softmax. The float64 reference gets the same (exactly
// representable) bf16 inputs, so the only differences are the kernel's roundings to bf16: the
// probabilities before the product with v (2^-9 relative), the output, the gradients.
void expect_bf16_close_to_double(int64_t B, int64_t T, int64_t H, int64_t D, double p) {
  torch::manual_seed(6);
  const int64_t C = H * D;
  auto kpm = torch::zeros({B, T}, torch::kBool);
  kpm.index_put_({B - 1, torch::indexing::Slice(T / 2, T)}, true);  // last example half padded
  auto mask = combine_masks(kpm, {}, B, T, T);
  auto qkv = (torch::randn({B, T, 3 * C}) * 2).to(torch::kBFloat16).requires_grad_();
  auto qkv_ref = qkv.detach().to(torch::kDouble).requires_grad_();
  auto upstream = torch::randn({B, T, C}).to(torch::kBFloat16);
  auto result = fused_self_attention_with_seed(qkv, H, mask, p, 11, true);
  auto ref = reference_attention(qkv_ref, mask, p, 11, H);
  EXPECT_EQ(result.output.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(result.weights.scalar_type(), torch::kFloat);
  EXPECT_LT(max_abs_diff(result.weights, ref.probs), 1e-6);  // float32 softmax of exact scores
  EXPECT_LT(relative_error(result.output, ref.output), 2e-2);
  (result.output * upstream).sum().backward();
  (ref.output * upstream.to(torch::kDouble)).sum().backward();
  EXPECT_EQ(qkv.grad().scalar_type(), torch::kBFloat16);
  EXPECT_LT(relative_error(qkv.grad(), qkv_ref.grad()), 3e-2);
  // The bound discriminates: the same gradients read in reverse time order are far off.
  EXPECT_GT(relative_error(qkv.grad().flip(1), qkv_ref.grad()), 0.2);
}

}  // namespace

TEST(FusedAttention, BFloat16RunsNativelyCloseToDouble) {
  expect_bf16_close_to_double(kB, kT, kH, kD, 0.0);  // odd, tiny shapes
  expect_bf16_close_to_double(2, 64, 4, 32, 0.0);    // the shapes the JIT kernels block for
}

TEST(FusedAttention, BFloat16DropoutUsesTheSameMaskAsFloat) {
  expect_bf16_close_to_double(2, 64, 4, 32, 0.3);
}

TEST(FusedAttention, FloatMatchesDoubleAtTrainingShapes) {
  torch::manual_seed(8);
  const int64_t B = 2, T = 128, H = 8, D = 64, C = H * D;
  auto qkv = torch::randn({B, T, 3 * C}).requires_grad_();
  auto qkv_ref = qkv.detach().to(torch::kDouble).requires_grad_();
  auto upstream = torch::randn({B, T, C});
  auto result = fused_self_attention_with_seed(qkv, H, {}, 0.1, 5, true);
  auto ref = reference_attention(qkv_ref, {}, 0.1, 5, H);
  EXPECT_LT(max_abs_diff(result.output, ref.output), 1e-4);
  (result.output * upstream).sum().backward();
  (ref.output * upstream.to(torch::kDouble)).sum().backward();
  EXPECT_LT(relative_error(qkv.grad(), qkv_ref.grad()), 1e-5);
}

TEST(FusedAttention, NoGradPathEqualsGradPath) {
  torch::manual_seed(7);
  auto qkv = torch::randn({kB, kT, 3 * kC});
  auto with_grad = fused_self_attention_with_seed(qkv.clone().requires_grad_(), kH, padding_mask(),
                                                  0.2, 3, false);
  torch::NoGradGuard no_grad;
  auto without = fused_self_attention_with_seed(qkv, kH, padding_mask(), 0.2, 3, false);
  EXPECT_TRUE(torch::equal(with_grad.output.detach(), without.output));
  EXPECT_FALSE(without.weights.defined());
}

TEST(FusedAttention, RejectsBadShapes) {
  auto qkv = torch::randn({kB, kT, 3 * kC});
  EXPECT_THROW(fused_self_attention(torch::randn({kB, kT, 3 * kC + 1}), kH, {}, 0, false, false),
               c10::Error);
  EXPECT_THROW(fused_self_attention(qkv, 3, {}, 0, false, false), c10::Error);  // 3 !| 10
  EXPECT_THROW(fused_self_attention(qkv, kH, torch::zeros({kB, 1, 1, kT + 1}, torch::kBool), 0,
                                    false, false),
               c10::Error);
  EXPECT_THROW(fused_self_attention(qkv, kH, torch::zeros({kB, 1, 1, kT}), 0, false, false),
               c10::Error);  // not bool
}
