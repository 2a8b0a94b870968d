#pragma once
// Validation during training and what follows from it, as Marian's validator does: the value of
// train.best_metric on the validation split, whether it is a new best, and whether the run
// should stop (train.stop_at reached, or early stopping's patience used up).

#include <cstdint>
#include <string>

#include "config/enums.h"
#include "data/dataset.h"
#include "model/encoder_model.h"
#include "tasks/objective.h"
#include "train/evaluator.h"
#include "train/training_state.h"

namespace attnlab {

// train.best_metric with `auto` resolved for the task: its objective's default (exact_match for
// transduction, bleu for translation, accuracy for classification).
BestMetric resolve_best_metric(BestMetric configured, const Objective& objective);

// The evaluation batch size of validation during training (and eval's default, so that eval
// of a checkpoint batches, pads and so rounds as validation did): max(train.batch_size, 64).
int64_t validation_batch_size(int64_t train_batch_size);

struct ValidatorOptions {
  BestMetric metric = BestMetric::kAccuracy;  // resolved (never kAuto)
  int64_t batch_size = 64;                    // evaluation batch size
  double stop_at = 0.0;                       // stop once the metric reaches it; 0 = off
  int64_t patience = 0;           // stop after N evaluations without a new best; 0 = off
  ProcessGroup* group = nullptr;  // data parallel: each rank evaluates its share and
                                  // the counts are summed; null: all of it here
};

struct Validation {
  EvalResult eval;
  double value = 0.0;            // of the metric
  bool improved = false;         // a new best: the caller writes best.pt
  bool reached_stop_at = false;  // the metric reached train.stop_at
  bool out_of_patience = false;  // train.early_stopping_patience evaluations without a new best

  // "" (go on), "stop_at" or "early_stopping" (which wins when both hold).
  std::string stop_reason() const;
};

class Validator {
 public:
  Validator(const Dataset& data, const Objective& objective, ValidatorOptions options);

  // Evaluates `model` on the validation split and updates the best metric, its step and the
  // count of evaluations without improvement in `state`.
  Validation validate(EncoderModel& model, Precision precision, TrainingState& state) const;

  const ValidatorOptions& options() const { return options_; }
  BestMetric metric() const { return options_.metric; }
  bool lower_is_better() const { return options_.metric == BestMetric::kLoss; }
  // The best value a run starts from: +inf for a loss, -inf otherwise.
  double initial_best() const;

 private:
  const Dataset& data_;
  const Objective& objective_;
  ValidatorOptions options_;
};

}  // namespace attnlab
