#include "train/train_step.h"

#include <cmath>

#include <ATen/ATen.h>

#include "train/evaluator.h"

namespace attnlab {

StepResult train_step(EncoderModel& model, FlatAdamW& optimizer, const at::Tensor& src,
                      const at::Tensor& tgt, double lr, const StepOptions& options) {
  at::Tensor logits, loss;
  {
    AutocastGuard autocast(options.precision);
    auto output = model->forward(src);
    logits = output.logits;
    loss = task_loss(logits, tgt, options.task, options.label_smoothing, output.lengths);
  }
  loss.backward();
  StepResult result;
  result.loss = loss.item<double>();
  result.grad_norm = optimizer.clip_grad_norm(options.grad_clip);
  result.applied = std::isfinite(result.loss) && std::isfinite(result.grad_norm);
  if (result.applied) optimizer.step(lr);
  optimizer.zero_grad();
  result.logits = logits.detach();
  return result;
}

}  // namespace attnlab
