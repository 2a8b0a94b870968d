#include "train/train_step.h"

#include <cmath>
#include <string>

#include <ATen/ATen.h>

#include "train/evaluator.h"

namespace attnlab {

StepResult train_step(EncoderModel& model, FlatAdamW& optimizer, const at::Tensor& src,
                      const at::Tensor& tgt, double lr, const StepOptions& options, int64_t units,
                      int64_t step) {
  const bool distributed = options.group != nullptr && options.group->world_size() > 1;
  const bool empty_share = src.size(0) == 0;  // a rank's part of a short final batch
  TORCH_CHECK(!empty_share || distributed, "train_step: an empty batch");
  at::Tensor logits, loss;
  if (!empty_share) {
    AutocastGuard autocast(options.precision);
    auto output = model->forward(src);
    logits = output.logits;
    loss = task_loss(logits, tgt, options.task, options.label_smoothing, output.lengths);
  }
  StepResult result;
  if (!distributed) {
    loss.backward();
    result.loss = loss.item<double>();
    result.units = units;
  } else {
    // This rank's loss sum (mean x units), then the sums over ranks, divided by all the units.
    if (!empty_share) (loss * static_cast<double>(units)).backward();
    const double loss_sum = empty_share ? 0.0 : loss.item<double>() * static_cast<double>(units);
    auto totals = at::tensor({loss_sum, static_cast<double>(units)}, at::kDouble);  // (2)
    const std::string of_step = " of step " + std::to_string(step);
    options.group->all_reduce_sum(totals, "the loss" + of_step);
    options.group->all_reduce_sum(optimizer.flat_grads(), "the gradients" + of_step);
    const double all_units = totals[1].item<double>();
    optimizer.flat_grads().div_(std::max(all_units, 1.0));
    result.loss = totals[0].item<double>() / std::max(all_units, 1.0);
    result.units = static_cast<int64_t>(all_units);
  }
  result.grad_norm = optimizer.clip_grad_norm(options.grad_clip);
  result.applied = std::isfinite(result.loss) && std::isfinite(result.grad_norm);
  if (result.applied) optimizer.step(lr);
  optimizer.zero_grad();
  if (logits.defined()) result.logits = logits.detach();
  return result;
}

}  // namespace attnlab
