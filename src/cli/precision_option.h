#pragma once
// --precision of eval, predict and bench. bench picks for the CPU it runs on; eval and predict
// default to the precision the checkpoint was trained in, so that the same checkpoint scores
// alike on every machine and eval repeats what validation logged.

#include <string>

#include "config/enums.h"

namespace attnlab::cli {

constexpr const char* kPrecisionHelp =
    "auto (default: bf16 where this CPU does bf16 matmuls natively, else fp32), fp32 or bf16";

constexpr const char* kCheckpointPrecisionHelp =
    "checkpoint (default: the precision the checkpoint was trained in, what validation ran),\n"
    "auto (bf16 where this CPU does bf16 matmuls natively, else fp32), fp32 or bf16";

// Parses auto|fp32|bf16 (UsageError otherwise) and resolves it for this CPU; bf16 on a CPU
// without native bf16 prints a warning on stderr.
Precision precision_from_option(const std::string& value);

// eval and predict: throws UsageError unless `value` is checkpoint, auto, fp32 or bf16 (called
// before the checkpoint is loaded, so that a typo is exit 2 before any work).
void check_checkpoint_precision_option(const std::string& value);

// `value` resolved for a checkpoint trained in `trained`: "checkpoint" keeps `trained` (a
// checkpoint whose config still says auto is resolved for this CPU); the others as
// precision_from_option.
Precision precision_for_checkpoint(const std::string& value, Precision trained);

}  // namespace attnlab::cli
