#pragma once
// Per-token labels (data.task=transduction): one target token per source position,
// cross-entropy over the target vocabulary with padding ignored; token accuracy and exact
// match; auto best metric exact_match.

#include "tasks/objective.h"
#include "tasks/task_spec.h"

namespace attnlab {

class PerTokenObjective final : public Objective {
 public:
  explicit PerTokenObjective(const TaskSpec& spec)
      : tokenizer_(spec.tokenizer), target_(spec.target) {}

  at::Tensor loss(const ModelOutput& output, const at::Tensor& target,
                  double label_smoothing) const override;
  int64_t loss_units(const Batch& batch) const override { return batch.num_tokens; }
  std::vector<Decoded> decode(const ModelOutput& output, const at::Tensor& input,
                              int64_t beam) const override;
  at::Tensor row_logits(const ModelOutput& output, const at::Tensor& input,
                        int64_t row) const override;
  std::vector<std::string> output_names() const override { return target_.tokens(); }
  std::string reference_text(const Example& example) const override { return example.target; }
  std::string decoding_name(int64_t) const override { return ""; }
  const char* examples_noun() const override { return "pairs"; }
  std::unique_ptr<Metrics> new_metrics() const override;
  BestMetric default_best_metric() const override { return BestMetric::kExactMatch; }
  RunningAccuracy running_accuracy(const Batch& batch, const at::Tensor& logits) const override;

 private:
  Tokenizer tokenizer_;
  Vocab target_;
};

}  // namespace attnlab
