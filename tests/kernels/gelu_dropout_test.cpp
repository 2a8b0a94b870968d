// Tests for src/kernels/gelu_dropout.{h,cpp}: forward and gradient against LibTorch's GELU
// (at::gelu, autograd) followed by attnlab's dropout with the same seed, in float32 and
// bfloat16 (against float64 on the bf16 inputs), the p = 0 / eval cases, extreme inputs.

#include "kernels/gelu_dropout.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "kernels/dropout.h"
#include "support/model_helpers.h"

namespace attnlab {
namespace {

using test::max_abs_diff;

struct Result {
  torch::Tensor output, grad;
};

Result run(const std::function<torch::Tensor(const torch::Tensor&)>& f, const torch::Tensor& x,
           const torch::Tensor& upstream) {
  auto xc = x.detach().clone().requires_grad_();
  auto out = f(xc);
  (out.to(torch::kDouble) * upstream).sum().backward();
  return {out.detach(), xc.grad()};
}

// The reference: LibTorch's GELU, then attnlab's dropout (tested on its own in dropout_test),
// in float64.
Result reference(const torch::Tensor& x, double p, uint64_t seed, const torch::Tensor& upstream) {
  return run([&](const torch::Tensor& t) { return dropout_with_seed(at::gelu(t), p, seed); },
             x.to(torch::kDouble), upstream);
}

TEST(GeluDropout, FloatMatchesAtGeluThenDropoutWithTheSameSeed) {
  torch::manual_seed(1);
  auto x = torch::randn({6, 33, 40}) * 3.0;  // spans the tails of the normal CDF
  auto upstream = torch::randn({6, 33, 40}, torch::kDouble);
  for (double p : {0.0, 0.1, 0.5}) {
    SCOPED_TRACE(p);
    auto ours =
        run([&](const torch::Tensor& t) { return gelu_dropout_with_seed(t, p, 77); }, x, upstream);
    auto ref = reference(x, p, 77, upstream);
    EXPECT_EQ(ours.output.scalar_type(), torch::kFloat);
    EXPECT_EQ(ours.grad.scalar_type(), torch::kFloat);
    EXPECT_LT(max_abs_diff(ours.output, ref.output), 2e-6);
    EXPECT_LT(max_abs_diff(ours.grad, ref.grad), 2e-6);
    // Zeros exactly where dropout with this seed drops (the mask read off a tensor of ones);
    // nonzero elsewhere except at x = 0. (The float64 reference is no guide in the far
    // negative tail: at::gelu's 1 + erf(x / sqrt 2) cancels to 0 there, ours keeps ~1e-23.)
    auto dropped = dropout_with_seed(torch::ones_like(x), p, 77) == 0;
    auto kept_nonzero = dropped.logical_not() & (x != 0);
    EXPECT_EQ((ours.output.masked_select(dropped) != 0).sum().item<int64_t>(), 0);
    EXPECT_EQ((ours.output.masked_select(kept_nonzero) == 0).sum().item<int64_t>(), 0);
    if (p > 0) {
      EXPECT_GT(dropped.sum().item<int64_t>(), 0);
    }
  }
}

TEST(GeluDropout, BFloat16MatchesFloat64OnTheRoundedInput) {
  torch::manual_seed(2);
  auto x = (torch::randn({4, 64, 96}) * 2.0).to(torch::kBFloat16);
  auto upstream = torch::randn({4, 64, 96}).to(torch::kBFloat16).to(torch::kDouble);
  auto ours =
      run([](const torch::Tensor& t) { return gelu_dropout_with_seed(t, 0.1, 5); }, x, upstream);
  auto ref = reference(x, 0.1, 5, upstream);
  EXPECT_EQ(ours.output.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(ours.grad.scalar_type(), torch::kBFloat16);
  // One bf16 rounding of the result (2^-9 relative), on values up to ~8 * 1/0.9.
  auto relative = [](const torch::Tensor& a, const torch::Tensor& b) {
    return ((a.to(torch::kDouble) - b).abs() / (b.abs() + 1e-3)).max().item<double>();
  };
  EXPECT_LT(relative(ours.output, ref.output), 4e-3);
  // The upstream gradient reaches the kernel rounded to bf16 (it is here already).
  EXPECT_LT(relative(ours.grad, ref.grad), 4e-3);
}

TEST(GeluDropout, EvalAndZeroProbabilityAreGelu) {
  torch::manual_seed(3);
  auto x = torch::randn({1000});
  auto expected = at::gelu(x);
  EXPECT_LT(max_abs_diff(gelu_dropout(x, 0.3, /*training=*/false), expected), 1e-6);
  EXPECT_LT(max_abs_diff(gelu_dropout(x, 0.0, /*training=*/true), expected), 1e-6);
  // Training with p > 0 draws a new mask each call from the default generator.
  torch::manual_seed(4);
  auto a = gelu_dropout(x, 0.3, true);
  auto b = gelu_dropout(x, 0.3, true);
  EXPECT_FALSE(torch::equal(a == 0, b == 0));
  torch::manual_seed(4);
  EXPECT_TRUE(torch::equal(gelu_dropout(x, 0.3, true), a));
}

TEST(GeluDropout, ExtremeAndSpecialInputs) {
  auto x = torch::tensor({0.0f, -0.0f, 1e-30f, -1e-30f, 5.0f, -5.0f, 9.0f, -9.0f, 30.0f, -30.0f,
                          1e10f, -1e10f, std::numeric_limits<float>::quiet_NaN()})
               .requires_grad_();
  auto out = gelu_dropout_with_seed(x, 0.0, 0);
  out.sum().backward();
  auto xd = x.detach().to(torch::kDouble).requires_grad_();
  auto ref = at::gelu(xd);
  ref.sum().backward();
  for (int64_t i = 0; i + 1 < x.numel(); ++i) {  // all but NaN
    SCOPED_TRACE(x[i].item<float>());
    EXPECT_NEAR(out[i].item<double>(), ref[i].item<double>(),
                1e-6 * std::max(1.0, std::abs(ref[i].item<double>())));
    EXPECT_NEAR(x.grad()[i].item<double>(), xd.grad()[i].item<double>(), 2e-6);
  }
  EXPECT_TRUE(std::isnan(out[x.numel() - 1].item<float>()));
}

TEST(GeluDropout, Float64FallsBackToTheComposition) {
  torch::manual_seed(5);
  auto x = torch::randn({50}, torch::kDouble);
  EXPECT_TRUE(
      torch::equal(gelu_dropout_with_seed(x, 0.2, 9), dropout_with_seed(at::gelu(x), 0.2, 9)));
}

TEST(GeluDropout, RejectsBadProbability) {
  EXPECT_THROW(gelu_dropout(torch::randn({3}), 1.0, true), c10::Error);
  EXPECT_THROW(gelu_dropout(torch::randn({3}), -0.1, true), c10::Error);
}

}  // namespace
}  // namespace attnlab
