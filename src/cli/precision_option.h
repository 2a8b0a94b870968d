#pragma once
// --precision of eval, predict and bench: the precision is picked again for the CPU a command
// runs on, whatever the checkpoint was trained with.

#include <string>

#include "config/enums.h"

namespace attnlab::cli {

constexpr const char* kPrecisionHelp =
    "auto (default: bf16 where this CPU does bf16 matmuls natively, else fp32), fp32 or bf16";

// Parses auto|fp32|bf16 (UsageError otherwise) and resolves it for this CPU; bf16 on a CPU
// without native bf16 prints a warning on stderr.
Precision precision_from_option(const std::string& value);

}  // namespace attnlab::cli
