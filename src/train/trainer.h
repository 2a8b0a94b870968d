#pragma once
// The training loop: data order, steps, checkpoints and signals. Validation and the decisions
// that follow it are the Validator's (train/validator.h); what the run reports is the
// TrainingLog's (train/training_log.h); what a checkpoint carries of the run's position is a
// TrainingState (train/training_state.h).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "config/config.h"
#include "data/augment.h"
#include "model/encoder_model.h"
#include "runtime/process_group.h"
#include "runtime/threads.h"
#include "train/checkpoint.h"
#include "train/evaluator.h"
#include "train/optimizer.h"
#include "train/run_data.h"
#include "train/schedule.h"
#include "train/training_log.h"
#include "train/training_state.h"
#include "train/validator.h"

namespace attnlab {

// A failure while training (e.g. too many non-finite steps in a row).
class TrainingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TrainResult {
  int64_t steps = 0;               // optimizer steps at the end
  int64_t skipped_steps = 0;       // non-finite steps skipped in this session
  double best_metric = 0.0;        // best validation value of the best metric
  int64_t best_step = 0;           // where it was reached
  std::string best_checkpoint;     // path of best.pt ("" if never validated)
  std::string stop_reason;         // finished | early_stopping | stop_at | interrupted
  double seconds = 0.0;            // wall time of this session
  double seconds_to_stop_at = -1;  // training wall time when train.stop_at was reached
};

// Called after each optimizer step with the model and step; used by the attention logger.
using StepHook = std::function<void(EncoderModel& model, int64_t step, bool last)>;

class Trainer {
 public:
  // A new run from a validated config, or a resumed one from a checkpoint (whose config, with
  // `config` overrides already applied by the caller, is passed in). With a `group` of several
  // ranks (torchrun), every rank runs a Trainer: each trains on its share of every global batch,
  // and rank 0 alone writes into the run directory.
  Trainer(Config config, std::optional<Checkpoint> resume_from = std::nullopt,
          ProcessGroup* group = nullptr);

  TrainResult run();

  const std::string& run_dir() const { return run_dir_; }
  EncoderModel& model() { return model_; }
  const TaskSpec& task_spec() const { return vocabs_; }
  const Objective& objective() const { return *objective_; }
  const Dataset& valid_data() const { return *valid_; }
  void set_step_hook(StepHook hook) { hook_ = std::move(hook); }

  // The best metric's resolved name (auto -> exact_match or accuracy).
  std::string best_metric_name() const { return name_of(validator_->metric()); }

 private:
  // The training and validation splits and the task spec: text (TSV) or images.
  void load_text(const Checkpoint* resume_from);
  void load_images(const Checkpoint* resume_from);
  // The task spec a checkpoint stores; CheckpointError when it does not fit the config.
  TaskSpec spec_of(const Checkpoint& checkpoint) const;
  std::vector<std::vector<int64_t>> epoch_batches(int64_t epoch) const;
  // Resuming: ConfigError when the batches of the epoch under way were cut otherwise (`stored`
  // is the checkpoint's train config); a finished epoch lets the next start with new values.
  void resume_batching(const TrainConfig& stored);
  // This rank's share of a global batch (all of it in a single process), padded to `pad_to`;
  // `first_row`: where the share starts in the global batch.
  Batch local_batch(const std::vector<int64_t>& global, int64_t pad_to, int64_t& first_row) const;
  // Whether any rank received SIGINT/SIGTERM (`here`: this one did), so all stop at one step.
  bool any_rank_stops(bool here, int64_t step);
  // Throws DistributedError unless every rank holds rank 0's parameters, bit for bit.
  void check_ranks_agree();
  bool writes_run_dir() const { return group_ == nullptr || group_->rank() == 0; }
  Checkpoint make_checkpoint() const;
  void save(const std::string& file_name);
  void prune_periodic_checkpoints();
  void log_start(int64_t threads) const;
  // Validates, writes best.pt on a new best; returns the stop reason ("" to go on).
  std::string validate(TrainingLog& log);
  double elapsed_s() const;  // training time of the run so far, all sessions

  std::string newest_saved_;        // "path (step N)" of this session's newest checkpoint
  int64_t session_first_step_ = 0;  // the step this session started from
  Config config_;
  ProcessGroup* group_ = nullptr;  // null: a single process
  std::string run_dir_;
  TaskSpec vocabs_;
  std::unique_ptr<Dataset> train_;
  std::unique_ptr<Dataset> valid_;
  EncoderModel model_{nullptr};
  std::unique_ptr<FlatAdamW> optimizer_;
  std::unique_ptr<Objective> objective_;  // the task's (tasks/registry.h)
  std::unique_ptr<Validator> validator_;
  StepHook hook_;
  ScheduleOptions schedule_;
  StepOptions step_options_;
  int64_t total_steps_ = 0;
  int64_t batches_per_epoch_ = 0;  // global (micro-)batches
  int64_t steps_per_epoch_ = 0;    // optimizer steps: batches / train.grad_accum_steps, rounded up
  std::string tokenizer_note_;     // where a SentencePiece model came from (for the log)
  std::string pixel_note_;         // images: the normalisation statistics (for the log)
  AugmentOptions augment_;         // images: what training batches go through
  std::string precision_reason_;   // why train.precision is what it is (for the log)
  std::string precision_warning_;  // "" or why it will be slow on this CPU

  TrainingState state_;  // saved in checkpoints; elapsed_s as of this session's start
  TrainResult result_;   // this session
  double session_start_ = 0.0;
};

// Directory of a run: <run.out_dir>/<run.name>.
std::string run_directory(const Config& config);

}  // namespace attnlab
