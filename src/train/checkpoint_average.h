#pragma once
// Parameter averaging over checkpoints of one run (the "+BLEU" trick of Marian and fairseq):
// the mean of every parameter, written as a normal checkpoint that eval and predict read.

#include <string>
#include <vector>

#include "train/checkpoint.h"

namespace attnlab {

// Loads every checkpoint in `paths` (at least one) and returns the one with the highest step,
// with each model tensor replaced by the mean over all of them (summed in float64, stored in
// the tensor's own type). Everything else (config, vocabularies, optimizer moments, training
// state) is the newest one's. Throws CheckpointError naming the file when a checkpoint cannot
// be read, or when its parameter names, shapes or vocabularies differ from the first's.
Checkpoint average_checkpoints(const std::vector<std::string>& paths);

// The periodic checkpoints (step_NNNNNNNN.pt) of a run directory, oldest first. Throws
// CheckpointError when the directory cannot be listed.
std::vector<std::string> periodic_checkpoints(const std::string& run_dir);

}  // namespace attnlab
