#pragma once
// One optimizer step: forward (under autocast for bf16), loss, backward, clipping, AdamW.
// Shared by the trainer and `attnlab bench`, so the benchmark measures the real thing.

#include <ATen/Tensor.h>

#include "model/encoder_model.h"
#include "train/optimizer.h"
#include "train/precision.h"

namespace attnlab {

struct StepOptions {
  TaskKind task = TaskKind::kTransduction;  // which loss
  Precision precision = Precision::kFp32;   // bf16 = autocast matmuls
  double grad_clip = 1.0;                   // max global grad norm; 0 disables
  double label_smoothing = 0.0;             // cross-entropy label smoothing
};

struct StepResult {
  double loss = 0.0;       // mean loss of the batch (may be non-finite)
  double grad_norm = 0.0;  // global gradient norm before clipping (may be non-finite)
  bool applied = false;    // false when loss or norm was non-finite: parameters unchanged
  at::Tensor logits;       // detached model output, for running accuracy
};

// Gradients are zero on return either way.
StepResult train_step(EncoderModel& model, FlatAdamW& optimizer, const at::Tensor& src,
                      const at::Tensor& tgt, double lr, const StepOptions& options);

}  // namespace attnlab
