#pragma once
// CTC output (data.task=translation): the model emits model.ctc.upsample positions per source
// token, CTC loss per target token (tasks/ctc.h), greedy or prefix-beam decoding, and exact
// match, BLEU and chrF on detokenized text (tasks/translation_metrics.h); auto best metric bleu.

#include "tasks/objective.h"
#include "tasks/task_spec.h"

namespace attnlab {

class CtcObjective final : public Objective {
 public:
  explicit CtcObjective(const TaskSpec& spec) : tokenizer_(spec.tokenizer), target_(spec.target) {}

  at::Tensor loss(const ModelOutput& output, const at::Tensor& target,
                  double label_smoothing) const override;
  int64_t loss_units(const Batch& batch) const override { return batch.num_tokens; }
  std::vector<Decoded> decode(const ModelOutput& output, const at::Tensor& input,
                              int64_t beam) const override;
  at::Tensor row_logits(const ModelOutput& output, const at::Tensor& input,
                        int64_t row) const override;
  std::vector<std::string> output_names() const override;
  std::string reference_text(const Example& example) const override;
  std::string decoding_name(int64_t beam) const override;
  const char* examples_noun() const override { return "pairs"; }
  std::unique_ptr<Metrics> new_metrics() const override;
  BestMetric default_best_metric() const override { return BestMetric::kBleu; }
  RunningAccuracy running_accuracy(const Batch& batch, const at::Tensor& logits) const override;

 private:
  Tokenizer tokenizer_;
  Vocab target_;
};

}  // namespace attnlab
