#pragma once
// Mixed precision: bf16 matmuls through LibTorch's CPU autocast, fp32 master weights; and the
// choice of precision for the CPU a command runs on.

#include <string>

#include "config/enums.h"
#include "runtime/cpu.h"

namespace attnlab {

struct PrecisionChoice {
  Precision precision = Precision::kFp32;  // fp32 or bf16, never auto
  std::string reason;   // for the log: "auto: no native bf16 on this CPU (oneDNN ISA avx512_core)"
  std::string warning;  // "" or why the choice will be slow here (bf16 without native bf16)
};

// train.precision for `cpu`: auto picks bf16 where oneDNN runs bf16 matmuls natively
// (AVX512_BF16 or AMX-BF16) and fp32 everywhere else, where bf16 is emulated and slower than
// fp32. An explicit fp32 or bf16 is kept; bf16 on a CPU without native bf16 gets a warning.
PrecisionChoice choose_precision(Precision configured, const CpuInfo& cpu);

// Enables CPU autocast to bfloat16 for its lifetime when precision is bf16; no-op for fp32.
// Softmax, LayerNorm and the loss stay fp32 (autocast's fp32 list and our explicit casts).
// `precision` must be resolved (not auto).
class AutocastGuard {
 public:
  explicit AutocastGuard(Precision precision);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool enabled_;
  bool previous_;
};

}  // namespace attnlab
