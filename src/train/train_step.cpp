#include "train/train_step.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/dropout.h"
#include "runtime/clock.h"
#include "train/evaluator.h"

namespace attnlab {

StepResult train_step(EncoderModel& model, FlatAdamW& optimizer,
                      const std::vector<MicroBatch>& micro_batches, double lr,
                      const StepOptions& options, int64_t step, const LogitsSink& sink,
                      std::optional<uint64_t> dropout_seed) {
  TORCH_CHECK(!micro_batches.empty(), "train_step: no micro-batches");
  TORCH_CHECK(options.objective != nullptr, "train_step: StepOptions::objective is not set");
  const bool distributed = options.group != nullptr && options.group->world_size() > 1;
  // One batch in one process: the loss is its mean, backward as is (what the tests against
  // PyTorch check). Otherwise: sums, divided once all units are known.
  const bool plain_mean = !distributed && micro_batches.size() == 1;
  StepResult result;
  double loss_sum = 0.0, units = 0.0;
  for (size_t i = 0; i < micro_batches.size(); ++i) {
    const auto& micro = micro_batches[i];
    if (micro.src.size(0) == 0) {  // a rank's part of a short final batch
      TORCH_CHECK(distributed, "train_step: micro-batch ", i, " of step ", step, " is empty");
      continue;
    }
    TORCH_CHECK(plain_mean || micro.units > 0, "train_step: micro-batch ", i, " of step ", step,
                " has no loss units");
    at::Tensor logits, loss;
    {
      AutocastGuard autocast(options.precision);
      std::optional<DropoutStream> stream;
      if (dropout_seed) stream.emplace(*dropout_seed, micro.first_row, micro.src.size(0));
      auto output = model->forward(micro.src);
      logits = output.logits;
      loss = options.objective->loss(output, micro.tgt, options.label_smoothing);
    }
    if (plain_mean) {
      loss.backward();
      result.loss = loss.item<double>();
      result.logits = logits.detach();
    } else {
      // This micro-batch's loss sum: mean x units.
      (loss * static_cast<double>(micro.units)).backward();
      loss_sum += loss.item<double>() * static_cast<double>(micro.units);
      if (micro_batches.size() == 1) result.logits = logits.detach();
    }
    units += static_cast<double>(micro.units);
    if (sink) sink(i, logits.detach());
  }
  if (plain_mean) {
    result.units = micro_batches.front().units;
  } else {
    if (distributed) {
      auto totals = at::tensor({loss_sum, units}, at::kDouble);  // (2)
      const std::string of_step = " of step " + std::to_string(step);
      const double start = now_s();
      options.group->all_reduce_sum(totals, "the loss" + of_step);
      options.group->all_reduce_sum(optimizer.flat_grads(), "the gradients" + of_step);
      result.allreduce_s = now_s() - start;
      loss_sum = totals[0].item<double>();
      units = totals[1].item<double>();
    }
    optimizer.flat_grads().div_(std::max(units, 1.0));
    result.loss = loss_sum / std::max(units, 1.0);
    result.units = static_cast<int64_t>(units);
  }
  result.grad_norm = optimizer.clip_grad_norm(options.grad_clip);
  result.applied = std::isfinite(result.loss) && std::isfinite(result.grad_norm);
  if (result.applied) optimizer.step(lr);
  optimizer.zero_grad();
  return result;
}

StepResult train_step(EncoderModel& model, FlatAdamW& optimizer, const at::Tensor& src,
                      const at::Tensor& tgt, double lr, const StepOptions& options, int64_t units,
                      int64_t step) {
  return train_step(model, optimizer, {MicroBatch{src, tgt, units}}, lr, options, step);
}

}  // namespace attnlab
