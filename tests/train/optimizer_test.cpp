// FlatAdamW against LibTorch's own torch::optim::AdamW and torch::nn::utils::clip_grad_norm_.
#include "train/optimizer.h"

#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <stdexcept>
#include <string>

#include "model/encoder_model.h"
#include "support/train_helpers.h"

namespace attnlab {
namespace {

constexpr int64_t kB = 3, kT = 5;
constexpr double kLr = 1e-2, kBeta1 = 0.9, kBeta2 = 0.98, kEps = 1e-8, kDecay = 0.1;

AdamWOptions adamw_options() {
  AdamWOptions o;
  o.lr = kLr;
  o.beta1 = kBeta1;
  o.beta2 = kBeta2;
  o.eps = kEps;
  o.weight_decay = kDecay;
  return o;
}

// Two identical tiny models: `flat` for FlatAdamW, `ref` for LibTorch's AdamW.
struct Pair {
  Pair() : flat(test::tiny_model_options()), ref(test::tiny_model_options()) {
    test::copy_state(*flat, *ref);
  }
  EncoderModel flat;
  EncoderModel ref;
};

// A fixed batch per step index, so both models see the same inputs and targets.
struct Batch {
  torch::Tensor src, tgt;
};
Batch batch_for(int step) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1000 + step);
  return {torch::randint(1, 11, {kB, kT}, gen, torch::kLong),
          torch::randint(0, 7, {kB, kT}, gen, torch::kLong)};
}

torch::Tensor loss_of(EncoderModel& model, const Batch& b) {
  auto logits = model->forward(b.src).logits;  // (B, T, V)
  return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}),
                                              b.tgt.reshape({-1}));
}

// Reference optimizer: decay on matrices (dim >= 2), none on vectors, as FlatAdamW documents.
torch::optim::AdamW reference_adamw(torch::nn::Module& module, double eps) {
  std::vector<torch::Tensor> matrices, vectors;
  for (const auto& p : module.parameters()) (p.dim() >= 2 ? matrices : vectors).push_back(p);
  auto opts = [eps](double decay) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(kLr).betas({kBeta1, kBeta2}).eps(eps).weight_decay(decay));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(matrices, opts(kDecay));
  groups.emplace_back(vectors, opts(0.0));
  return torch::optim::AdamW(groups, torch::optim::AdamWOptions(kLr));
}

const torch::optim::AdamWParamState& reference_state(torch::optim::AdamW& opt,
                                                     const torch::Tensor& p) {
  return static_cast<const torch::optim::AdamWParamState&>(
      *opt.state().at(c10::guts::to_string(p.unsafeGetTensorImpl())));
}

void expect_parameters_equal(torch::nn::Module& a, torch::nn::Module& b, double tol) {
  auto other = b.named_parameters();
  for (const auto& p : a.named_parameters())
    EXPECT_LE(test::max_abs_diff(p.value(), other[p.key()]), tol) << p.key();
}

// A small MLP in which every parameter gets a generic (non-zero) gradient.
struct MlpImpl : torch::nn::Module {
  MlpImpl() {
    fc1 = register_module("fc1", torch::nn::Linear(6, 8));
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({8})));
    fc2 = register_module("fc2", torch::nn::Linear(8, 5));
  }
  torch::Tensor forward(const torch::Tensor& x) { return fc2(norm(torch::tanh(fc1(x)))); }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};
TORCH_MODULE(Mlp);

torch::Tensor mlp_loss(Mlp& model, int step) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(2000 + step);
  const auto x = torch::randn({7, 6}, gen);
  const auto y = torch::randint(0, 5, {7}, gen, torch::kLong);
  return torch::nn::functional::cross_entropy(model(x), y);
}

// Runs `steps` steps of FlatAdamW on `flat` and LibTorch's AdamW on `ref` (identical copies)
// with the same losses, checking gradients, parameters and moments after every step.
template <typename Model, typename Loss>
void expect_matches_reference(Model& flat_model, Model& ref_model, Loss loss, double eps,
                              int steps) {
  auto options = adamw_options();
  options.eps = eps;
  FlatAdamW flat(*flat_model, options);
  auto ref = reference_adamw(*ref_model, eps);
  EXPECT_EQ(flat.num_parameters(), count_parameters(*ref_model));
  for (int step = 0; step < steps; ++step) {
    flat.zero_grad();
    loss(flat_model, step).backward();
    ref.zero_grad();
    loss(ref_model, step).backward();
    auto ref_params = ref_model->named_parameters();
    for (const auto& p : flat_model->named_parameters())
      ASSERT_LE(test::max_abs_diff(p.value().grad(), ref_params[p.key()].grad()), 1e-6)
          << "step " << step << " grad of " << p.key();
    flat.step(kLr);
    ref.step();
    expect_parameters_equal(*flat_model, *ref_model, 1e-6);
  }
  EXPECT_EQ(flat.step_count(), steps);
  const auto m1 = flat.exp_avg_by_name();
  const auto m2 = flat.exp_avg_sq_by_name();
  ASSERT_EQ(m1.size(), ref_model->named_parameters().size());
  for (const auto& p : ref_model->named_parameters()) {
    const auto& st = reference_state(ref, p.value());
    EXPECT_EQ(st.step(), steps);
    EXPECT_LE(test::max_abs_diff(m1.at(p.key()), st.exp_avg()), 1e-7) << p.key();
    EXPECT_LE(test::max_abs_diff(m2.at(p.key()), st.exp_avg_sq()), 1e-9) << p.key();
  }
}

TEST(FlatAdamW, MatchesTorchAdamWOnAnMlp) {
  torch::manual_seed(0);
  Mlp flat, ref;
  test::copy_state(*flat, *ref);
  expect_matches_reference(flat, ref, mlp_loss, kEps, 8);
}

TEST(FlatAdamW, MatchesTorchAdamWOnTheEncoder) {
  // eps 1e-3: some encoder gradients are exactly zero in theory (e.g. the key bias, which
  // softmax ignores) and only float noise in practice; Adam with a tiny eps turns that noise
  // into lr-sized steps of random sign, which no two implementations share. A larger eps
  // also checks where eps enters the update.
  torch::manual_seed(0);
  Pair m;
  auto loss = [](EncoderModel& model, int step) { return loss_of(model, batch_for(step)); };
  expect_matches_reference(m.flat, m.ref, loss, 1e-3, 6);
}

TEST(FlatAdamW, DecaysMatricesOnlyWhenGradientsAreZero) {
  torch::manual_seed(1);
  EncoderModel model(test::tiny_model_options());
  std::map<std::string, torch::Tensor> before;
  for (const auto& p : model->named_parameters()) before[p.key()] = p.value().detach().clone();
  FlatAdamW flat(*model, adamw_options());
  flat.zero_grad();
  flat.step(0.5);  // m = v = 0: the only change is the decoupled decay p *= 1 - lr * wd
  for (const auto& p : model->named_parameters()) {
    const auto& old = before[p.key()];
    if (p.value().dim() >= 2)
      EXPECT_TRUE(torch::allclose(p.value(), old * (1.0 - 0.5 * kDecay), 1e-6, 0)) << p.key();
    else
      EXPECT_TRUE(torch::equal(p.value(), old)) << p.key();
  }
}

TEST(FlatAdamW, ParametersAndGradientsAreViewsOfOneBuffer) {
  torch::manual_seed(2);
  EncoderModel model(test::tiny_model_options());
  std::map<std::string, torch::Tensor> before;
  for (const auto& p : model->named_parameters()) before[p.key()] = p.value().detach().clone();
  FlatAdamW flat(*model, adamw_options());

  // Construction keeps the values, and every parameter (and .grad) shares one storage.
  const auto params = model->parameters();
  for (const auto& p : model->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), before[p.key()])) << p.key();
  for (const auto& p : params) {
    EXPECT_TRUE(p.is_alias_of(params.front()));
    ASSERT_TRUE(p.grad().defined());
    EXPECT_TRUE(p.grad().is_alias_of(params.front().grad()));
    EXPECT_FALSE(p.grad().is_alias_of(p));
  }

  const auto b = batch_for(0);
  torch::Tensor logits_before;
  {
    torch::NoGradGuard no_grad;
    logits_before = model->forward(b.src).logits.clone();
  }
  flat.zero_grad();
  loss_of(model, b).backward();
  // Backward accumulated into the flat buffer: grad_norm sees every parameter's gradient.
  double sum_sq = 0.0;
  for (const auto& p : params) sum_sq += p.grad().to(torch::kDouble).pow(2).sum().item<double>();
  EXPECT_NEAR(flat.grad_norm(), std::sqrt(sum_sq), 1e-6 * std::sqrt(sum_sq));
  EXPECT_GT(sum_sq, 0.0);
  for (const auto& p : params) EXPECT_TRUE(p.grad().is_alias_of(params.front().grad()));

  std::vector<int64_t> versions;
  for (const auto& p : params) versions.push_back(p._version());
  flat.step(kLr);
  int changed = 0;
  for (const auto& p : model->named_parameters())
    changed += torch::equal(p.value(), before[p.key()]) ? 0 : 1;
  EXPECT_GT(changed, static_cast<int>(params.size()) / 2) << "step did not reach the module";
  // The in-place update counts as a change of every parameter (what weight-derived caches,
  // such as the bf16 inference copies of kernels/linear_functions.h, check).
  for (size_t i = 0; i < params.size(); ++i) EXPECT_GT(params[i]._version(), versions[i]) << i;
  torch::NoGradGuard no_grad;
  EXPECT_GT(test::max_abs_diff(model->forward(b.src).logits, logits_before), 1e-4)
      << "forward does not use the updated parameters";
  {
    // The same under bf16 autocast, where inference runs on cached bf16 copies of the weights:
    // a (large) step must show in the next forward pass, which must match float32 again.
    at::autocast::set_cpu_enabled(true);
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    auto bf16_before = model->forward(b.src).logits.to(torch::kFloat);
    flat.step(0.5);  // moves every weight by ~0.5: stale copies would be far off
    auto bf16_after = model->forward(b.src).logits.to(torch::kFloat);
    auto fp32_after = torch::Tensor();
    at::autocast::set_cpu_enabled(false);
    at::autocast::clear_cache();
    fp32_after = model->forward(b.src).logits;
    EXPECT_GT(test::max_abs_diff(bf16_after, bf16_before), 0.0) << "stale bf16 weights";
    EXPECT_LT(test::max_abs_diff(bf16_after, fp32_after) / fp32_after.abs().max().item<double>(),
              5e-2);
  }

  flat.zero_grad();
  for (const auto& p : params) EXPECT_EQ(p.grad().abs().sum().item<double>(), 0.0);
}

TEST(FlatAdamW, ClipGradNormMatchesTorch) {
  for (const double fraction : {0.1, 0.9, 2.0}) {  // clipped hard, clipped a bit, not clipped
    torch::manual_seed(3);
    Pair m;
    FlatAdamW flat(*m.flat, adamw_options());
    const auto b = batch_for(7);
    flat.zero_grad();
    loss_of(m.flat, b).backward();
    loss_of(m.ref, b).backward();

    const double unclipped = flat.grad_norm();
    const double max_norm = fraction * unclipped;
    const double expected = torch::nn::utils::clip_grad_norm_(m.ref->parameters(), max_norm);
    const double got = flat.clip_grad_norm(max_norm);
    EXPECT_NEAR(got, expected, 1e-5 * expected) << "fraction " << fraction;
    EXPECT_NEAR(flat.grad_norm(), std::min(unclipped, max_norm), 1e-5 * unclipped);
    auto ref_params = m.ref->named_parameters();
    for (const auto& p : m.flat->named_parameters())
      EXPECT_LE(test::max_abs_diff(p.value().grad(), ref_params[p.key()].grad()), 1e-7)
          << p.key() << " fraction " << fraction;
  }
}

TEST(FlatAdamW, ClipGradNormZeroDisablesAndNonFiniteNormIsReturned) {
  torch::manual_seed(4);
  EncoderModel model(test::tiny_model_options());
  FlatAdamW flat(*model, adamw_options());
  loss_of(model, batch_for(0)).backward();
  const double norm = flat.grad_norm();
  EXPECT_DOUBLE_EQ(flat.clip_grad_norm(0.0), norm);
  EXPECT_DOUBLE_EQ(flat.grad_norm(), norm);
  // A NaN gradient: the norm says so, and nothing is scaled.
  model->named_parameters()["token_head.proj.bias"].grad()[0] = NAN;
  const auto before = flat.flat_grads().clone();
  EXPECT_TRUE(std::isnan(flat.clip_grad_norm(1e-3)));
  EXPECT_TRUE(torch::equal(torch::isnan(flat.flat_grads()), torch::isnan(before)));
  EXPECT_TRUE(torch::equal(torch::nan_to_num(flat.flat_grads()), torch::nan_to_num(before)))
      << "a non-finite norm must leave the gradients unscaled";
  // An infinite one too.
  model->named_parameters()["token_head.proj.bias"].grad()[0] = INFINITY;
  const auto finite_before = flat.flat_grads().narrow(0, 0, 8).clone();
  EXPECT_TRUE(std::isinf(flat.clip_grad_norm(1e-3)));
  EXPECT_TRUE(torch::equal(flat.flat_grads().narrow(0, 0, 8), finite_before));
}

TEST(FlatAdamW, LoadStateRestoresExactly) {
  torch::manual_seed(5);
  Pair m;  // m.ref plays the resumed model here; both are trained by FlatAdamW
  FlatAdamW first(*m.flat, adamw_options());
  for (int step = 0; step < 3; ++step) {
    first.zero_grad();
    loss_of(m.flat, batch_for(step)).backward();
    first.step(kLr);
  }
  // What a checkpoint holds: parameters, moments by name (copied), the step count.
  std::map<std::string, torch::Tensor> m1, m2;
  for (const auto& [name, t] : first.exp_avg_by_name()) m1[name] = t.clone();
  for (const auto& [name, t] : first.exp_avg_sq_by_name()) m2[name] = t.clone();
  test::copy_state(*m.flat, *m.ref);
  FlatAdamW resumed(*m.ref, adamw_options());
  resumed.load_state(m1, m2, first.step_count());
  EXPECT_EQ(resumed.step_count(), 3);

  for (int step = 3; step < 5; ++step) {
    for (auto* pair : {&first, &resumed}) pair->zero_grad();
    loss_of(m.flat, batch_for(step)).backward();
    loss_of(m.ref, batch_for(step)).backward();
    first.step(kLr);
    resumed.step(kLr);
  }
  auto resumed_params = m.ref->named_parameters();
  for (const auto& p : m.flat->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), resumed_params[p.key()])) << p.key();
  const auto a = first.exp_avg_sq_by_name(), b = resumed.exp_avg_sq_by_name();
  for (const auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
}

TEST(FlatAdamW, LoadStateRejectsMissingOrMisshapedEntries) {
  torch::manual_seed(6);
  EncoderModel model(test::tiny_model_options());
  FlatAdamW flat(*model, adamw_options());
  auto m1 = flat.exp_avg_by_name(), m2 = flat.exp_avg_sq_by_name();
  const std::string victim = "token_head.proj.weight";
  ASSERT_TRUE(m1.count(victim));

  auto missing = m1;
  missing.erase(victim);
  try {
    flat.load_state(missing, m2, 1);
    ADD_FAILURE() << "missing entry accepted";
  } catch (const std::runtime_error& e) {
    test::expect_contains(e.what(), victim);
  }
  auto missing_sq = m2;
  missing_sq.erase(victim);
  EXPECT_THROW(flat.load_state(m1, missing_sq, 1), std::runtime_error);

  auto misshaped = m1;
  misshaped[victim] = torch::zeros({2, 2});
  try {
    flat.load_state(misshaped, m2, 1);
    ADD_FAILURE() << "misshaped entry accepted";
  } catch (const std::runtime_error& e) {
    test::expect_contains(e.what(), victim);
  }
}

}  // namespace
}  // namespace attnlab
