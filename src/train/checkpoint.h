#pragma once
// Self-contained checkpoints: one torch::pickle_save'd dict per file, which Python's torch.load
// opens as a plain dict. Keys are documented in docs/training.md ("Checkpoint format").

#include <ATen/Tensor.h>

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "train/training_state.h"

namespace attnlab {

constexpr int64_t kCheckpointVersion = 1;
constexpr const char* kCheckpointFormat = "attnlab.checkpoint";

// A missing, truncated, corrupted, foreign or unsupported checkpoint; the message names it.
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Checkpoint {
  std::string config_yaml;                       // resolved config of the run
  std::map<std::string, at::Tensor> model;       // parameters and buffers by name
  std::map<std::string, at::Tensor> exp_avg;     // AdamW first moments by parameter name
  std::map<std::string, at::Tensor> exp_avg_sq;  // AdamW second moments by parameter name
  int64_t optimizer_step = 0;                    // AdamW step count (bias correction)
  TrainingState state;                           // step, data position, best metric, rng, ...
  std::vector<std::string> src_vocab;            // source tokens, id order
  std::vector<std::string> tgt_vocab;            // target tokens (transduction), id order
  std::vector<std::string> labels;               // class labels (classification), id order
  std::string spm_model;                         // serialized SentencePiece model; "" unless
                                                 // data.tokenization=sentencepiece
  std::vector<int64_t> image_shape;              // (C, H, W) of the images the model takes;
                                                 // empty unless data.task=image_classification
};

// Writes atomically (io/atomic_file.h): a crash at any moment leaves any previous file at
// `path` intact.
void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);

// Reads and validates a checkpoint; throws CheckpointError naming the file on any problem.
Checkpoint load_checkpoint(const std::string& path);

}  // namespace attnlab
