#pragma once
// Where a run stands, apart from its weights and optimizer moments: what a checkpoint must
// carry so that a resumed run continues exactly where the interrupted one stopped.

#include <ATen/Tensor.h>

#include <cstdint>

namespace attnlab {

struct TrainingState {
  int64_t step = 0;                       // optimizer steps taken (incl. skipped ones)
  int64_t epoch = 0;                      // current epoch (0-based)
  int64_t batch_in_epoch = 0;             // next batch index within the epoch order
  double best_metric = 0.0;               // best validation value of train.best_metric
  int64_t best_step = 0;                  // step that reached it (0 = none yet)
  int64_t evals_without_improvement = 0;  // for early stopping
  int64_t tokens_seen = 0;                // target tokens trained on
  double elapsed_s = 0.0;                 // training wall time of all sessions so far
  at::Tensor rng_state;                   // torch CPU generator state (uint8); undefined = none
};

}  // namespace attnlab
