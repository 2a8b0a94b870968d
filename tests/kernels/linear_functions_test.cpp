// Tests for src/kernels/linear_functions.{h,cpp}: forward and gradients against at::linear
// (LibTorch's own) computed in float64, bias-free and non-contiguous inputs, partial gradients, the
// autocast and float64 fall-backs, shape errors.

#include "kernels/linear_functions.h"

#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/model_helpers.h"

namespace attnlab {
namespace {

using test::max_abs_diff;

struct Gradients {
  torch::Tensor output, x, weight, bias;
};

// Forward + backward of `f` on copies of the inputs, with a fixed upstream gradient.
Gradients run(const std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&,
                                                const torch::Tensor&)>& f,
              const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b,
              const torch::Tensor& upstream) {
  auto xc = x.detach().clone().requires_grad_();
  auto wc = w.detach().clone().requires_grad_();
  auto bc = b.defined() ? b.detach().clone().requires_grad_() : torch::Tensor();
  auto out = f(xc, wc, bc);
  (out * upstream.to(out.scalar_type())).sum().backward();
  return {out.detach(), xc.grad(), wc.grad(), bc.defined() ? bc.grad() : torch::Tensor()};
}

torch::Tensor reference(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  return at::linear(x, w, b);
}

void expect_matches_float64_reference(bool with_bias) {
  SCOPED_TRACE(with_bias ? "with bias" : "without bias");
  torch::manual_seed(1);
  auto x = torch::randn({3, 17, 40});
  auto w = torch::randn({24, 40}) * 0.2;
  auto b = with_bias ? torch::randn({24}) : torch::Tensor();
  auto upstream = torch::randn({3, 17, 24});
  auto ours = run([](const torch::Tensor& x, const torch::Tensor& w,
                     const torch::Tensor& b) { return attnlab::linear(x, w, b); },
                  x, w, b, upstream);
  auto ref = run(reference, x.to(torch::kDouble), w.to(torch::kDouble),
                 with_bias ? b.to(torch::kDouble) : torch::Tensor(), upstream);
  EXPECT_EQ(ours.output.scalar_type(), torch::kFloat);
  EXPECT_EQ(ours.output.sizes(), (std::vector<int64_t>{3, 17, 24}));
  EXPECT_LT(max_abs_diff(ours.output, ref.output), 1e-5);
  EXPECT_LT(max_abs_diff(ours.x, ref.x), 1e-5);
  EXPECT_LT(max_abs_diff(ours.weight, ref.weight), 1e-4);  // sums over 51 rows
  if (with_bias) {
    EXPECT_LT(max_abs_diff(ours.bias, ref.bias), 1e-4);
  }
}

TEST(LinearFunctions, FloatMatchesAtLinearInFloat64WithAndWithoutBias) {
  expect_matches_float64_reference(true);
  expect_matches_float64_reference(false);
}

TEST(LinearFunctions, NonContiguousInputAndTwoDimensionalInput) {
  torch::manual_seed(2);
  auto x = torch::randn({40, 5, 3}).permute({1, 2, 0});  // (5, 3, 40), not contiguous
  auto w = torch::randn({8, 40});
  auto b = torch::randn({8});
  EXPECT_LT(max_abs_diff(linear(x, w, b), at::linear(x, w, b)), 1e-5);
  auto x2 = torch::randn({6, 40});
  EXPECT_LT(max_abs_diff(linear(x2, w, b), at::linear(x2, w, b)), 1e-5);
}

TEST(LinearFunctions, OnlyTheNeededGradientsAreComputed) {
  torch::manual_seed(3);
  auto x = torch::randn({4, 10});  // no grad: e.g. an embedding of frozen inputs
  auto w = torch::randn({6, 10}).requires_grad_();
  auto b = torch::randn({6});  // frozen bias
  linear(x, w, b).pow(2).sum().backward();
  auto expected_w = torch::autograd::grad({at::linear(x, w, b).pow(2).sum()}, {w})[0];
  EXPECT_LT(max_abs_diff(w.grad(), expected_w), 1e-4);
  EXPECT_FALSE(x.grad().defined());
}

TEST(LinearFunctions, NoGradForwardEqualsGradForward) {
  torch::manual_seed(4);
  auto x = torch::randn({2, 9, 16});
  auto w = torch::randn({12, 16}).requires_grad_();
  auto b = torch::randn({12}).requires_grad_();
  auto with_grad = linear(x, w, b).detach();
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(linear(x, w, b), with_grad));
}

TEST(LinearFunctions, AutocastAndDoubleFallBackToLibTorch) {
  torch::manual_seed(5);
  auto x = torch::randn({4, 16});
  auto w = torch::randn({8, 16});
  auto b = torch::randn({8});
  {
    at::autocast::set_cpu_enabled(true);
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    auto out = linear(x, w, b);
    at::autocast::set_cpu_enabled(false);
    at::autocast::clear_cache();
    EXPECT_EQ(out.scalar_type(), torch::kBFloat16);  // autocast's bf16 matmul
    EXPECT_LT(max_abs_diff(out, at::linear(x, w, b)), 0.1);
  }
  auto xd = x.to(torch::kDouble), wd = w.to(torch::kDouble), bd = b.to(torch::kDouble);
  EXPECT_TRUE(torch::equal(linear(xd, wd, bd), at::linear(xd, wd, bd)));
}

// Enables bf16 CPU autocast for its lifetime.
struct Bf16Autocast {
  Bf16Autocast() {
    at::autocast::set_cpu_enabled(true);
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  }
  ~Bf16Autocast() {
    at::autocast::set_cpu_enabled(false);
    at::autocast::clear_cache();
  }
};

// t rounded to bf16 (what a bf16 GEMM multiplies), in float64.
torch::Tensor rounded_to_bf16(const torch::Tensor& t) {
  return t.to(torch::kBFloat16).to(torch::kDouble);
}

// act(x W^T + b) in float64 from the bf16-rounded x and W.
torch::Tensor bf16_reference(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b,
                             LinearActivation activation) {
  auto y = at::linear(rounded_to_bf16(x), rounded_to_bf16(w), b.to(torch::kDouble));
  if (activation == LinearActivation::kGelu) return at::gelu(y);
  if (activation == LinearActivation::kRelu) return at::relu(y);
  return y;
}

double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  return max_abs_diff(a, b) / b.abs().max().item<double>();
}

TEST(LinearFunctions, Bf16InferenceMatchesFloat64OnRoundedInputsWithFusedActivations) {
  torch::manual_seed(6);
  auto x = torch::randn({4, 33, 64});
  auto w = torch::randn({96, 64}) * 0.2;
  auto b = torch::randn({96});
  LinearBf16Cache cache;
  torch::NoGradGuard no_grad;
  Bf16Autocast autocast;
  for (auto activation :
       {LinearActivation::kNone, LinearActivation::kRelu, LinearActivation::kGelu}) {
    SCOPED_TRACE(static_cast<int>(activation));
    auto out = linear(x, w, b, activation, &cache);
    EXPECT_EQ(out.scalar_type(), torch::kBFloat16);
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{4, 33, 96}));
    auto ref = bf16_reference(x, w, b, activation);
    EXPECT_LT(relative_error(out, ref), 8e-3);  // the bf16 rounding of the result: 2^-9
    // Autocast's own path (at::linear, addmm) agrees to the same rounding.
    auto autocast_out = linear(x, w, b, activation, /*cache=*/nullptr);
    EXPECT_LT(relative_error(out, autocast_out.to(torch::kDouble)), 1.6e-2);
  }
  // A bf16 input (e.g. the attention output) takes the same path.
  auto out = linear(x.to(torch::kBFloat16), w, b, LinearActivation::kNone, &cache);
  EXPECT_LT(relative_error(out, bf16_reference(x, w, b, LinearActivation::kNone)), 8e-3);
}

TEST(LinearFunctions, Bf16InferenceCacheFollowsWeightUpdatesAndInputSizes) {
  torch::manual_seed(7);
  auto w = torch::randn({16, 32});
  auto b = torch::randn({16});
  LinearBf16Cache cache;
  torch::NoGradGuard no_grad;
  Bf16Autocast autocast;
  for (int64_t rows : {5, 64, 5}) {  // a second input size, then the first again
    auto x = torch::randn({rows, 32});
    auto out = linear(x, w, b, LinearActivation::kNone, &cache);
    EXPECT_LT(relative_error(out, bf16_reference(x, w, b, LinearActivation::kNone)), 8e-3);
  }
  auto x = torch::randn({8, 32});
  auto before = linear(x, w, b, LinearActivation::kNone, &cache);
  w.mul_(-2.0);  // an in-place update, as an optimizer step makes
  auto after = linear(x, w, b, LinearActivation::kNone, &cache);
  EXPECT_LT(relative_error(after, bf16_reference(x, w, b, LinearActivation::kNone)), 8e-3);
  EXPECT_GT(max_abs_diff(after, before), 1.0);
  auto other = torch::randn({16, 32});  // another weight through the same cache
  EXPECT_LT(relative_error(linear(x, other, b, LinearActivation::kNone, &cache),
                           bf16_reference(x, other, b, LinearActivation::kNone)),
            8e-3);
}

// Training under bf16 autocast: forward and all three gradients against float64 autograd on
// the bf16-rounded operands the GEMMs multiply (x, W, and the bf16 upstream gradient; after a
// GELU, its bf16 backward). Float32 inputs get float32 gradients straight from the GEMM, bf16
// inputs bf16 ones; the float32 master weight and bias always get float32 gradients.
TEST(LinearFunctions, Bf16TrainingMatchesFloat64OnRoundedOperands) {
  torch::manual_seed(8);
  for (auto input_dtype : {torch::kFloat, torch::kBFloat16}) {
    for (auto activation : {LinearActivation::kNone, LinearActivation::kGelu}) {
      SCOPED_TRACE(std::string(c10::toString(input_dtype)) + " activation " +
                   std::to_string(static_cast<int>(activation)));
      auto x = torch::randn({3, 17, 64}).to(input_dtype).requires_grad_();
      auto w = (torch::randn({48, 64}) * 0.2).requires_grad_();
      auto b = torch::randn({48}).requires_grad_();
      auto upstream = torch::randn({3, 17, 48});
      LinearBf16Cache cache;
      torch::Tensor out;
      {
        Bf16Autocast autocast;
        out = linear(x, w, b, activation, &cache);
        (out.to(torch::kFloat) * upstream).sum().backward();
      }
      EXPECT_EQ(out.scalar_type(), torch::kBFloat16);
      ASSERT_TRUE(x.grad().defined() && w.grad().defined() && b.grad().defined());
      EXPECT_EQ(x.grad().scalar_type(), input_dtype);
      EXPECT_EQ(w.grad().scalar_type(), torch::kFloat);
      EXPECT_EQ(b.grad().scalar_type(), torch::kFloat);

      auto xr = rounded_to_bf16(x.detach()).requires_grad_();
      auto wr = rounded_to_bf16(w.detach()).requires_grad_();
      auto br = b.detach().to(torch::kDouble).requires_grad_();
      auto y = at::linear(xr, wr, br);
      auto ref = activation == LinearActivation::kGelu ? at::gelu(y) : y;
      // The upstream gradient reaches the GEMMs rounded to bf16 (and through GELU's bf16
      // backward when there is one: a second rounding, allowed for by the tolerance).
      (ref * rounded_to_bf16(upstream)).sum().backward();
      EXPECT_LT(relative_error(out, ref.detach()), 8e-3);
      const double tolerance = activation == LinearActivation::kGelu ? 2e-2 : 8e-3;
      EXPECT_LT(relative_error(x.grad(), xr.grad()), tolerance);
      EXPECT_LT(relative_error(w.grad(), wr.grad()), tolerance);
      EXPECT_LT(relative_error(b.grad(), br.grad()), tolerance);
    }
  }
}

// A training step changes the weight in place: the next forward and its backward must use the
// new weight (both packed copies remade), and a backward after the change is refused (the
// weight is saved for it, so autograd's in-place check applies).
TEST(LinearFunctions, Bf16TrainingFollowsInPlaceWeightUpdates) {
  torch::manual_seed(9);
  auto x = torch::randn({10, 32}).requires_grad_();
  auto w = torch::randn({16, 32}).requires_grad_();
  auto b = torch::randn({16}).requires_grad_();
  LinearBf16Cache cache;
  Bf16Autocast autocast;
  auto first = linear(x, w, b, LinearActivation::kNone, &cache);
  first.to(torch::kFloat).sum().backward();
  auto stale = linear(x, w, b, LinearActivation::kNone, &cache);
  {
    torch::NoGradGuard no_grad;
    w.mul_(-2.0);  // what an optimizer step does
  }
  EXPECT_THROW(stale.to(torch::kFloat).sum().backward(), c10::Error);
  auto second = linear(x, w, b, LinearActivation::kNone, &cache);
  EXPECT_LT(relative_error(second, bf16_reference(x.detach(), w.detach(), b.detach(),
                                                  LinearActivation::kNone)),
            8e-3);
  x.grad().zero_();
  w.grad().zero_();
  second.to(torch::kFloat).sum().backward();
  auto ones = torch::ones({10, 16}, torch::kDouble);  // the upstream gradient
  EXPECT_LT(relative_error(x.grad(), ones.mm(rounded_to_bf16(w.detach()))), 8e-3);  // new W
  EXPECT_LT(relative_error(w.grad(), ones.t().mm(rounded_to_bf16(x.detach()))), 8e-3);
}

// Autocast without a cache (a caller outside the modules) keeps autocast's own linear.
TEST(LinearFunctions, Bf16AutocastWithoutCacheUsesAutocastsLinear) {
  torch::manual_seed(10);
  auto x = torch::randn({6, 32});
  auto w = torch::randn({16, 32}).requires_grad_();
  auto b = torch::randn({16}).requires_grad_();
  Bf16Autocast autocast;
  auto out = linear(x, w, b, LinearActivation::kGelu);
  EXPECT_EQ(out.scalar_type(), torch::kBFloat16);
  out.to(torch::kFloat).sum().backward();
  ASSERT_TRUE(w.grad().defined());
  EXPECT_EQ(w.grad().scalar_type(), torch::kFloat);
}

TEST(LinearFunctions, RejectsMismatchedShapes) {
  auto w = torch::randn({8, 16});
  auto message = test::error_message([&] {
    attnlab::linear(torch::randn({4, 15}), w, torch::Tensor());
  });
  EXPECT_NE(message.find("[4, 15]"), std::string::npos) << message;
  EXPECT_THROW(linear(torch::randn({4, 16}), w, torch::randn({7})), c10::Error);
}

}  // namespace
}  // namespace attnlab
