#pragma once
// Self-contained checkpoints: one torch::pickle_save'd dict per file, which Python's torch.load
// opens as a plain dict. Keys are documented in the README ("Checkpoint format").

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/Tensor.h>

namespace attnlab {

constexpr int64_t kCheckpointVersion = 1;
constexpr const char* kCheckpointFormat = "attnlab.checkpoint";

// A missing, truncated, corrupted, foreign or unsupported checkpoint; the message names it.
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Checkpoint {
  std::string config_yaml;                        // resolved config of the run
  std::map<std::string, at::Tensor> model;        // parameters and buffers by name
  std::map<std::string, at::Tensor> exp_avg;      // AdamW first moments by parameter name
  std::map<std::string, at::Tensor> exp_avg_sq;   // AdamW second moments by parameter name
  int64_t optimizer_step = 0;                     // AdamW step count (bias correction)
  int64_t step = 0;                               // optimizer steps taken (incl. skipped ones)
  int64_t epoch = 0;                              // current epoch (0-based)
  int64_t batch_in_epoch = 0;                     // next batch index within the epoch order
  at::Tensor rng_state;                           // torch CPU generator state (uint8)
  double best_metric = 0.0;                       // best validation value of train.best_metric
  int64_t best_step = 0;                          // step that reached it (0 = none yet)
  int64_t evals_without_improvement = 0;          // for early stopping
  int64_t tokens_seen = 0;                        // target tokens trained on
  double elapsed_s = 0.0;                         // training wall time so far
  std::vector<std::string> src_vocab;             // source tokens, id order
  std::vector<std::string> tgt_vocab;             // target tokens (transduction), id order
  std::vector<std::string> labels;                // class labels (classification), id order
};

// Writes atomically: a temp file in the same directory, fsync, rename, fsync of the directory.
// A crash at any moment leaves any previous file at `path` intact.
void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);

// Reads and validates a checkpoint; throws CheckpointError naming the file on any problem.
Checkpoint load_checkpoint(const std::string& path);

// Atomic write of raw bytes (used for checkpoints and attention records).
void write_file_atomically(const std::string& path, const std::vector<char>& bytes);

}  // namespace attnlab
