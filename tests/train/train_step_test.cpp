// One training step: the loop learns (overfits a tiny batch) and a non-finite step is skipped.
#include "train/train_step.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>

#include "support/train_helpers.h"
#include "tasks/registry.h"

namespace attnlab {
namespace {

// Step options with the objective of `task` (kept alive for the test binary's life).
StepOptions step_options(TaskKind task = TaskKind::kTransduction) {
  static std::map<TaskKind, std::unique_ptr<Objective>> objectives;
  auto& objective = objectives[task];
  if (!objective) {
    TaskSpec spec;
    spec.task = task;
    objective = make_objective(spec);
  }
  StepOptions options;
  options.objective = objective.get();
  return options;
}

AdamWOptions adamw(double lr) {
  AdamWOptions o;
  o.lr = lr;
  o.weight_decay = 0.0;
  return o;
}

TEST(TrainStep, OverfitsATinyCopyBatch) {
  torch::manual_seed(0);
  constexpr int64_t kB = 8, kT = 6, kV = 12;
  EncoderModel model(test::tiny_model_options(kV, kV, /*d_model=*/32, /*layers=*/2));
  model->train();
  FlatAdamW optimizer(*model, adamw(3e-3));
  const auto src = torch::randint(1, kV, {kB, kT}, torch::kLong);
  const auto tgt = src.clone();  // copy task: every position predicts its own token
  StepOptions options = step_options();
  options.grad_clip = 1.0;

  const auto first = train_step(model, optimizer, src, tgt, 3e-3, options);
  EXPECT_TRUE(first.applied);
  EXPECT_GT(first.loss, 1.5);  // about log(12) at initialisation
  EXPECT_GT(first.grad_norm, 0.0);
  ASSERT_TRUE(first.logits.defined());
  EXPECT_EQ(first.logits.sizes(), (std::vector<int64_t>{kB, kT, kV}));
  EXPECT_FALSE(first.logits.requires_grad());
  double loss = first.loss;
  int steps = 1;
  for (; steps < 400 && loss >= 0.05; ++steps)
    loss = train_step(model, optimizer, src, tgt, 3e-3, options).loss;
  EXPECT_LT(loss, 0.05) << "after " << steps << " steps";
  EXPECT_EQ(optimizer.step_count(), steps);
  const auto last = train_step(model, optimizer, src, tgt, 3e-3, options);
  EXPECT_TRUE(torch::equal(last.logits.argmax(-1), tgt));
  // Gradients are zero between steps.
  for (const auto& p : model->parameters()) EXPECT_EQ(p.grad().abs().max().item<float>(), 0.0f);
}

// The reported loss is the label-smoothed cross-entropy, and training lowers it.
TEST(TrainStep, ClassificationStepReducesLossWithLabelSmoothing) {
  torch::manual_seed(1);
  auto m = test::tiny_model_options(10, 3);
  m.task = TaskKind::kClassification;
  EncoderModel model(m);
  FlatAdamW optimizer(*model, adamw(1e-2));
  const auto src = torch::randint(1, 10, {6, 5}, torch::kLong);
  const auto tgt = torch::tensor({0, 1, 2, 0, 1, 2}, torch::kLong);
  StepOptions options = step_options(TaskKind::kClassification);
  options.label_smoothing = 0.1;
  // The smoothed loss by hand, on a copy before the step: mean over rows of
  // (1 - eps) * -log p(y) + eps * mean over the K classes of -log p(k) (dropout is 0 here).
  EncoderModel copy(m);
  test::copy_state(*model, *copy);
  const auto log_p =
      torch::log_softmax(copy->forward(src).logits.to(torch::kDouble), -1);  // (6, 3)
  const auto nll = -log_p.gather(1, tgt.unsqueeze(1)).squeeze(1);            // (6)
  const double smoothed = (0.9 * nll + 0.1 * -log_p.mean(-1)).mean().item<double>();
  const double plain = nll.mean().item<double>();
  const double before = train_step(model, optimizer, src, tgt, 1e-2, options).loss;
  EXPECT_NEAR(before, smoothed, 1e-5);
  EXPECT_GT(std::abs(smoothed - plain), 1e-3) << "the fixture must tell smoothing from none";
  double after = before;
  for (int i = 0; i < 30; ++i) after = train_step(model, optimizer, src, tgt, 1e-2, options).loss;
  EXPECT_LT(after, before * 0.7);
}

// A model, a plain copy whose .grad holds the reference gradient of one batch's cross-entropy
// (computed here, not by train_step), and the optimizer of the model.
struct ClipFixture {
  ClipFixture() {
    test::copy_state(*model, *copy);
    auto logits = copy->forward(src).logits;  // (2, 4, 7)
    torch::nn::functional::cross_entropy(logits.reshape({-1, 7}), tgt.reshape({-1})).backward();
    double sum_sq = 0.0;
    for (const auto& p : copy->parameters())
      sum_sq += p.grad().to(torch::kDouble).pow(2).sum().item<double>();
    norm = std::sqrt(sum_sq);
  }
  // After one step the first moment is (1 - beta1) * g * `scale` (beta1 = 0.9), parameter by
  // parameter; returns its global norm.
  double expect_first_moment(double scale) const {
    const auto exp_avg = optimizer.exp_avg_by_name();
    double moment_sq = 0.0;
    for (const auto& p : copy->named_parameters()) {
      EXPECT_EQ(exp_avg.count(p.key()), 1u) << p.key();
      if (exp_avg.count(p.key()) == 0) continue;
      EXPECT_TRUE(
          torch::allclose(exp_avg.at(p.key()), p.value().grad() * (0.1 * scale), 1e-4, 1e-12))
          << p.key();
      moment_sq += exp_avg.at(p.key()).to(torch::kDouble).pow(2).sum().item<double>();
    }
    return std::sqrt(moment_sq);
  }

  bool seeded = (torch::manual_seed(2), true);  // first: before the members below draw
  EncoderModel model{test::tiny_model_options()};
  EncoderModel copy{test::tiny_model_options()};
  FlatAdamW optimizer{*model, adamw(1e-3)};
  torch::Tensor src = torch::randint(1, 11, {2, 4}, torch::kLong);
  torch::Tensor tgt = torch::randint(1, 7, {2, 4}, torch::kLong);
  double norm = 0.0;  // of the reference gradient
};

TEST(TrainStep, ReportsTheNormBeforeClippingAndStepsWithTheClippedGradient) {
  ClipFixture f;
  StepOptions options = step_options();
  options.grad_clip = 1e-3;  // far below the norm: clipping certainly happens
  const auto r = train_step(f.model, f.optimizer, f.src, f.tgt, 1e-3, options);
  EXPECT_TRUE(r.applied);
  EXPECT_NEAR(r.grad_norm, f.norm, 1e-5 * f.norm);
  EXPECT_GT(r.grad_norm, 1e-3);
  const double moment = f.expect_first_moment(options.grad_clip / f.norm);
  EXPECT_NEAR(moment, 0.1 * options.grad_clip, 1e-5 * options.grad_clip);
}

TEST(TrainStep, LeavesAGradientBelowTheClipAlone) {
  ClipFixture f;
  StepOptions options = step_options();
  options.grad_clip = 1e6;  // far above the norm
  train_step(f.model, f.optimizer, f.src, f.tgt, 1e-3, options);
  EXPECT_NEAR(f.expect_first_moment(1.0), 0.1 * f.norm, 1e-5 * f.norm);
}

TEST(TrainStep, NonFiniteLossSkipsTheUpdate) {
  torch::manual_seed(3);
  EncoderModel model(test::tiny_model_options());
  FlatAdamW optimizer(*model, adamw(1e-2));
  const auto src = torch::randint(1, 11, {2, 4}, torch::kLong);
  const auto tgt = torch::randint(1, 7, {2, 4}, torch::kLong);
  train_step(model, optimizer, src, tgt, 1e-2, step_options());  // some optimizer state first
  ASSERT_EQ(optimizer.step_count(), 1);
  {
    torch::NoGradGuard no_grad;
    model->token_head->proj->weight[0][0] = NAN;  // every logit of class 0 becomes NaN
  }
  std::map<std::string, torch::Tensor> before;
  for (const auto& p : model->named_parameters()) before[p.key()] = p.value().detach().clone();
  std::map<std::string, torch::Tensor> m_before;
  for (const auto& [name, t] : optimizer.exp_avg_by_name()) m_before[name] = t.clone();

  const auto r = train_step(model, optimizer, src, tgt, 1e-2, step_options());
  EXPECT_FALSE(r.applied);
  EXPECT_FALSE(std::isfinite(r.loss));
  EXPECT_EQ(optimizer.step_count(), 1);
  for (const auto& p : model->named_parameters()) {
    const auto& old = before[p.key()];
    // Equal, NaN where it was NaN.
    EXPECT_TRUE(torch::equal(torch::isnan(p.value()), torch::isnan(old))) << p.key();
    EXPECT_TRUE(torch::equal(torch::nan_to_num(p.value()), torch::nan_to_num(old))) << p.key();
    EXPECT_EQ(p.value().grad().abs().max().item<float>(), 0.0f) << p.key() << " grad not zeroed";
  }
  for (const auto& [name, t] : optimizer.exp_avg_by_name())
    EXPECT_TRUE(torch::equal(t, m_before[name])) << name;
}

}  // namespace
}  // namespace attnlab
