#pragma once
// One optimizer step: forward (under autocast for bf16), loss, backward, clipping, AdamW.
// Shared by the trainer and `attnlab bench`, so the benchmark measures the real thing.

#include <ATen/Tensor.h>

#include <cstddef>
#include <functional>
#include <optional>
#include <vector>

#include "model/encoder_model.h"
#include "runtime/process_group.h"
#include "tasks/objective.h"
#include "train/optimizer.h"
#include "train/precision.h"

namespace attnlab {

struct StepOptions {
  const Objective* objective = nullptr;    // the loss (tasks/objective.h); must be set
  Precision precision = Precision::kFp32;  // bf16 = autocast matmuls
  double grad_clip = 1.0;                  // max global grad norm; 0 disables
  double label_smoothing = 0.0;            // cross-entropy label smoothing
  ProcessGroup* group = nullptr;           // data parallel: the ranks that share the batch;
                                           // null or a group of one: this process alone
};

struct StepResult {
  double loss = 0.0;         // mean loss of the (global) batch (may be non-finite)
  double grad_norm = 0.0;    // global gradient norm before clipping (may be non-finite)
  bool applied = false;      // false when loss or norm was non-finite: parameters unchanged
  int64_t units = 0;         // what the loss averages over in the global batch (the given units
                             // summed over the micro-batches and the ranks)
  double allreduce_s = 0.0;  // data parallel: wall time in the loss and gradient all-reduces
  at::Tensor logits;         // one micro-batch: detached model output of this rank's share, for
                             // running accuracy (undefined when the share is empty); several: the
                             // sink got them instead
};

// One micro-batch: this rank's share of a global batch (possibly empty: (0, T), under a group
// of several ranks), and `units`, what its loss averages over (Batch::num_tokens).
struct MicroBatch {
  at::Tensor src;
  at::Tensor tgt;
  int64_t units = 0;
  int64_t first_row = 0;  // with a dropout seed: its first example's row in the step's global
                          // batch (all micro-batches of all ranks, in order)
};

// Receives each micro-batch's detached logits as soon as its backward is done (so that K of them
// are never held at once); not called for an empty share.
using LogitsSink = std::function<void(size_t micro_batch, const at::Tensor& logits)>;

// One optimizer step over `micro_batches` (train.grad_accum_steps of them). Gradients are zero on
// return either way. With one micro-batch in one process, the loss is the batch mean, as
// always. Otherwise each micro-batch's loss is weighed by its units and the gradients summed
// (over the micro-batches, then over the ranks in one all-reduce), then divided by all the units:
// every rank applies the update one process would apply to the K-times-larger global batch.
// `step` names the step in errors. With a `dropout_seed`, each micro-batch's forward runs in a
// DropoutStream (kernels/dropout.h) of that seed from its first_row: dropout masks follow the
// example, so that with its micro-batches padded to one length a step draws the masks the
// whole global batch in one process would draw.
StepResult train_step(EncoderModel& model, FlatAdamW& optimizer,
                      const std::vector<MicroBatch>& micro_batches, double lr,
                      const StepOptions& options, int64_t step = 0, const LogitsSink& sink = {},
                      std::optional<uint64_t> dropout_seed = std::nullopt);

// One micro-batch (src/tgt), as the benchmark and the tests take a step.
StepResult train_step(EncoderModel& model, FlatAdamW& optimizer, const at::Tensor& src,
                      const at::Tensor& tgt, double lr, const StepOptions& options,
                      int64_t units = 0, int64_t step = 0);

}  // namespace attnlab
