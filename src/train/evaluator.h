#pragma once
// Loss and evaluation of a model on a dataset: loss, token accuracy and exact match
// (transduction) or accuracy, per-class P/R/F1 and confusion matrix (classification).

#include <optional>
#include <string>
#include <vector>

#include <ATen/Tensor.h>

#include "data/dataset.h"
#include "model/encoder_model.h"
#include "train/metrics.h"
#include "train/precision.h"
#include "train/run_data.h"

namespace attnlab {

// Mean cross-entropy in fp32. Transduction: logits (B, T, V), target (B, T), pad ignored.
// Classification: logits (B, K), target (B).
at::Tensor task_loss(const at::Tensor& logits, const at::Tensor& target, TaskKind task,
                     double label_smoothing = 0.0);

struct SamplePrediction {
  std::string input;
  std::string target;
  std::string predicted;
  bool correct = false;
};

struct EvalResult {
  TaskKind task = TaskKind::kTransduction;
  int64_t examples = 0;
  double loss = 0.0;                                   // mean per target token / example
  TransductionMetrics transduction;                    // transduction only
  std::optional<ClassificationMetrics> classification;  // classification only
  std::vector<SamplePrediction> samples;               // first few examples

  double accuracy() const;  // token accuracy or classification accuracy
  // Value of a resolved train.best_metric (not kAuto): loss, accuracy or exact_match.
  double metric(BestMetric metric) const;
  // {"loss":..,"accuracy":..,"exact_match":..} or with per_class and confusion.
  std::string to_json(const std::vector<std::string>& labels) const;
};

// Decodes output ids to text: joined with spaces for word tokenization, nothing for char.
std::string decode(const std::vector<int64_t>& ids, const Vocab& vocab, Tokenization t);

// Runs the model in eval mode under NoGradGuard (restoring train mode after).
EvalResult evaluate(EncoderModel& model, const Dataset& data, const TaskSpec& vocabs,
                    int64_t batch_size, Precision precision, int64_t num_samples);

// Argmax predictions: (B, T) for transduction, (B) for classification.
at::Tensor predict_ids(const at::Tensor& logits);

}  // namespace attnlab
