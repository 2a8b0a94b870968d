#pragma once
// Rebuilds a model from a checkpoint alone: its resolved config, vocabularies and weights.

#include <string>

#include "config/config.h"
#include "model/encoder_model.h"
#include "train/checkpoint.h"
#include "train/run_data.h"

namespace attnlab {

struct TrainedModel {
  std::string path;             // checkpoint file
  Config config;                // resolved config stored in the checkpoint
  TaskSpec vocabs;              // vocabularies stored in the checkpoint
  EncoderModel model{nullptr};  // weights loaded, in eval mode
  int64_t step = 0;             // training step of the checkpoint
};

// Throws CheckpointError naming the file when anything is missing or does not fit.
TrainedModel load_trained_model(const std::string& path);

// Encodes raw input texts with the checkpoint's vocabulary into a padded (B, T) batch.
at::Tensor encode_inputs(const TrainedModel& trained, const std::vector<std::string>& texts);

}  // namespace attnlab
