#pragma once
// What a run reports while it trains: sums over each log interval, the console lines, one JSON
// object per interval, validation and skipped step in metrics.jsonl (docs/training.md), and the
// progress bar on a terminal.

#include <cstdint>
#include <cstdio>
#include <string>

#include "config/enums.h"
#include "data/dataset.h"
#include "tasks/objective.h"
#include "train/train_step.h"
#include "train/training_state.h"
#include "train/validator.h"

namespace attnlab {

struct TrainingLogOptions {
  std::string metrics_path;              // metrics.jsonl, appended to (a resumed run continues
                                         // it); empty: none (data-parallel ranks other than 0)
  const Objective* objective = nullptr;  // what the loss and the running accuracy count over
  bool images = false;                   // throughput in images/s (else tokens/s)
  int64_t interval = 50;                 // a train line every N steps (and at the last)
  bool progress = false;                 // draw the progress bar (stderr must be a terminal)
};

class TrainingLog {
 public:
  // Opens metrics.jsonl; throws std::runtime_error naming it when it cannot.
  explicit TrainingLog(TrainingLogOptions options);
  ~TrainingLog();
  TrainingLog(const TrainingLog&) = delete;
  TrainingLog& operator=(const TrainingLog&) = delete;

  // One (micro-)batch of the step under way and its logits (this rank's share): counts its
  // correct predictions and tokens, for the interval once add_step says the step was applied.
  void add_batch(const Batch& batch, const at::Tensor& logits);
  // An applied step: adds its loss, weighed by the units of the batches added since the last step.
  void add_step(const StepResult& step);
  // A step skipped for a non-finite loss or gradient norm, the `in_a_row`-th in a row.
  void skipped_step(int64_t step, const StepResult& result, int64_t in_a_row);
  // When `state.step` ends an interval (or `last`): the console line and the JSONL object of
  // the interval, then a new interval. `elapsed_s` is the run's training time so far.
  void end_of_step(const TrainingState& state, double lr, double elapsed_s, bool last);
  // A validation's console line and JSONL object, and the stop it asks for, if any.
  void validation(const TrainingState& state, const Validation& v, const ValidatorOptions& rules,
                  double elapsed_s);

  // Redraws the progress bar at most ~10 times a second; `session_s` is this session's time.
  void progress(int64_t step, int64_t total, double session_s, double loss);
  void clear_progress();

 private:
  void write(const std::string& json_line);

  TrainingLogOptions options_;
  std::FILE* metrics_ = nullptr;
  // The current interval.
  double loss_sum_ = 0.0, correct_ = 0.0, units_ = 0.0, accuracy_units_ = 0.0, last_loss_ = 0.0,
         last_grad_norm_ = 0.0;
  int64_t tokens_ = 0, steps_ = 0;
  // What add_batch counted for the step under way, until add_step keeps it (or skipped_step
  // drops it).
  struct PendingStep {
    double correct = 0.0, units = 0.0, accuracy_units = 0.0;
    int64_t tokens = 0;
  };
  PendingStep pending_;
  double interval_start_ = 0.0;
  // The progress bar.
  bool drawn_ = false;
  double last_draw_ = 0.0;
};

}  // namespace attnlab
