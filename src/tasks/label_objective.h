#pragma once
// One label per sequence (data.task=classification and image_classification): cross-entropy
// over the classes; accuracy, macro F1, per-class precision/recall/F1 and the confusion matrix;
// auto best metric accuracy.

#include "tasks/objective.h"
#include "tasks/task_spec.h"

namespace attnlab {

class LabelObjective final : public Objective {
 public:
  explicit LabelObjective(const TaskSpec& spec) : labels_(spec.labels) {}

  at::Tensor loss(const ModelOutput& output, const at::Tensor& target,
                  double label_smoothing) const override;
  int64_t loss_units(const Batch& batch) const override { return batch.src.size(0); }
  std::vector<Decoded> decode(const ModelOutput& output, const at::Tensor& input,
                              int64_t beam) const override;
  at::Tensor row_logits(const ModelOutput& output, const at::Tensor& input,
                        int64_t row) const override;
  std::vector<std::string> output_names() const override { return labels_.labels(); }
  std::string reference_text(const Example& example) const override { return example.target; }
  std::string decoding_name(int64_t) const override { return ""; }
  const char* examples_noun() const override { return "examples"; }
  std::unique_ptr<Metrics> new_metrics() const override;
  BestMetric default_best_metric() const override { return BestMetric::kAccuracy; }
  RunningAccuracy running_accuracy(const Batch& batch, const at::Tensor& logits) const override;

 private:
  LabelSet labels_;
};

}  // namespace attnlab
