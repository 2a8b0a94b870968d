#pragma once
// The objective half of a task: what the model predicts and how it is scored. Its loss, what
// the loss averages over, its decoding of outputs into ids and text, its metrics, its default
// best metric and its running accuracy during training. The trainer, validator, evaluator,
// training log, eval and predict hold one (tasks/registry.h makes it) and never ask which
// task they run. docs/development.md, "Adding a task".

#include <ATen/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/enums.h"
#include "data/dataset.h"
#include "model/encoder_model.h"
#include "tasks/metrics.h"

namespace attnlab {

// One row's prediction: output ids (a token per position, a CTC labeling, or one label id)
// and the text they decode to (detokenized, or the label's name).
struct Decoded {
  std::vector<int64_t> ids;
  std::string text;
};

// Correct predictions and what they are counted over in one training batch.
struct RunningAccuracy {
  double correct = 0.0;
  double units = 0.0;
};

class Objective {
 public:
  virtual ~Objective() = default;

  // The training loss in fp32, the mean over loss_units of `target`; label smoothing where the
  // loss is a cross-entropy.
  virtual at::Tensor loss(const ModelOutput& output, const at::Tensor& target,
                          double label_smoothing = 0.0) const = 0;
  // What the loss of `batch` averages over: its target tokens or its examples.
  virtual int64_t loss_units(const Batch& batch) const = 0;

  // Each row's prediction from `output` of the model on `input` (B, ...); `beam` > 1 asks for a
  // beam search where the objective has one (CTC) and is ignored elsewhere.
  virtual std::vector<Decoded> decode(const ModelOutput& output, const at::Tensor& input,
                                      int64_t beam = 1) const = 0;
  // The row's logits that predict --logits prints: (T, V), (T*k, V) or (1, K).
  virtual at::Tensor row_logits(const ModelOutput& output, const at::Tensor& input,
                                int64_t row) const = 0;
  // The names of the output classes, in id order (the columns of row_logits).
  virtual std::vector<std::string> output_names() const = 0;
  // An example's target as a prediction of it is compared with (and shown beside it).
  virtual std::string reference_text(const Example& example) const = 0;
  // "greedy CTC" / "CTC beam 4" where decoding has a choice; "" elsewhere.
  virtual std::string decoding_name(int64_t beam) const = 0;
  // What the examples are called in reports: "pairs" or "examples".
  virtual const char* examples_noun() const = 0;

  // Fresh metrics of this objective.
  virtual std::unique_ptr<Metrics> new_metrics() const = 0;
  // train.best_metric: auto resolves to this.
  virtual BestMetric default_best_metric() const = 0;
  // Training's running accuracy of one batch from its (detached) logits.
  virtual RunningAccuracy running_accuracy(const Batch& batch, const at::Tensor& logits) const = 0;
};

}  // namespace attnlab
