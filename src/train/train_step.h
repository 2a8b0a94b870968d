#pragma once
// One optimizer step: forward (under autocast for bf16), loss, backward, clipping, AdamW.
// Shared by the trainer and `attnlab bench`, so the benchmark measures the real thing.

#include <ATen/Tensor.h>

#include "model/encoder_model.h"
#include "runtime/process_group.h"
#include "train/optimizer.h"
#include "train/precision.h"

namespace attnlab {

struct StepOptions {
  TaskKind task = TaskKind::kTransduction;  // which loss
  Precision precision = Precision::kFp32;   // bf16 = autocast matmuls
  double grad_clip = 1.0;                   // max global grad norm; 0 disables
  double label_smoothing = 0.0;             // cross-entropy label smoothing
  ProcessGroup* group = nullptr;            // data parallel: the ranks that share the batch;
                                            // null or a group of one: this process alone
};

struct StepResult {
  double loss = 0.0;       // mean loss of the (global) batch (may be non-finite)
  double grad_norm = 0.0;  // global gradient norm before clipping (may be non-finite)
  bool applied = false;    // false when loss or norm was non-finite: parameters unchanged
  int64_t units = 0;       // what the loss averages over in the global batch (the given units
                           // summed over the ranks)
  at::Tensor logits;       // detached model output of this rank's share, for running accuracy
                           // (undefined when the share is empty)
};

// Gradients are zero on return either way. With a group of several ranks, src/tgt are this
// rank's share of the global batch (possibly empty: (0, T)); each rank's loss is weighed by its
// share of the loss units, gradients are summed over the ranks and divided by the global units,
// so every rank applies the same update, the one one process would apply to the whole batch.
// `units`: what the loss averages over in src/tgt (Batch::num_tokens); `step` names the step in
// errors.
StepResult train_step(EncoderModel& model, FlatAdamW& optimizer, const at::Tensor& src,
                      const at::Tensor& tgt, double lr, const StepOptions& options,
                      int64_t units = 0, int64_t step = 0);

}  // namespace attnlab
