#pragma once
// The training loop: data order, steps, validation, checkpoints, early stopping, signals.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "config/config.h"
#include "model/encoder_model.h"
#include "runtime/threads.h"
#include "train/checkpoint.h"
#include "train/evaluator.h"
#include "train/optimizer.h"
#include "train/run_data.h"

namespace attnlab {

// A failure while training (e.g. too many non-finite steps in a row).
class TrainingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TrainResult {
  int64_t steps = 0;              // optimizer steps at the end
  int64_t skipped_steps = 0;      // non-finite steps skipped in this session
  double best_metric = 0.0;       // best validation value of the best metric
  int64_t best_step = 0;          // where it was reached
  std::string best_checkpoint;    // path of best.pt ("" if never validated)
  std::string stop_reason;        // finished | early_stopping | stop_at | interrupted
  double seconds = 0.0;           // wall time of this session
  double seconds_to_stop_at = -1; // training wall time when train.stop_at was reached
};

// Called after each optimizer step with the model and step; used by the attention logger.
using StepHook = std::function<void(EncoderModel& model, int64_t step, bool last)>;

class Trainer {
 public:
  // A new run from a validated config, or a resumed one from a checkpoint (whose config, with
  // `config` overrides already applied by the caller, is passed in).
  Trainer(Config config, std::optional<Checkpoint> resume_from = std::nullopt);
  ~Trainer();

  TrainResult run();

  const std::string& run_dir() const { return run_dir_; }
  EncoderModel& model() { return model_; }
  const TaskSpec& task_spec() const { return vocabs_; }
  const Dataset& valid_data() const { return *valid_; }
  void set_step_hook(StepHook hook) { hook_ = std::move(hook); }

  // The best metric's resolved name (auto -> exact_match or accuracy) and direction.
  std::string best_metric_name() const;

 private:
  std::vector<std::vector<int64_t>> epoch_batches(int64_t epoch) const;
  Checkpoint make_checkpoint() const;
  void save(const std::string& file_name);
  void prune_periodic_checkpoints();
  void validate();
  void write_metrics(const std::string& json_line);

  Config config_;
  std::string run_dir_;
  TaskSpec vocabs_;
  std::unique_ptr<Dataset> train_;
  std::unique_ptr<Dataset> valid_;
  EncoderModel model_{nullptr};
  std::unique_ptr<FlatAdamW> optimizer_;
  StepHook hook_;
  Precision precision_ = Precision::kFp32;
  int64_t total_steps_ = 0;
  int64_t batches_per_epoch_ = 0;

  TrainingState state_;            // saved in checkpoints; elapsed_s as of this session's start

  // This session.
  TrainResult result_;
  double session_start_ = 0.0;
  bool stop_ = false;
  std::FILE* metrics_file_ = nullptr;
};

// Directory of a run: <run.out_dir>/<run.name>.
std::string run_directory(const Config& config);

}  // namespace attnlab
