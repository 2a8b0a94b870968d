#include "train/precision.h"

#include <ATen/autocast_mode.h>
#include <c10/util/Exception.h>

#include <stdexcept>

namespace attnlab {

PrecisionChoice choose_precision(Precision configured, const CpuInfo& cpu) {
  PrecisionChoice c;
  const std::string isa = "oneDNN ISA " + cpu.onednn_isa;
  if (configured == Precision::kAuto) {
    c.precision = cpu.native_bf16 ? Precision::kBf16 : Precision::kFp32;
    c.reason = cpu.native_bf16 ? "auto: native bf16 matmuls on this CPU (" + isa + ")"
                               : "auto: no native bf16 on this CPU (" + isa + ")";
    return c;
  }
  c.precision = configured;
  c.reason = "set explicitly";
  if (configured == Precision::kBf16 && !cpu.native_bf16)
    c.warning = "bf16 on a CPU without native bf16 (" + isa +
                "): oneDNN emulates the bf16 matmuls, so this runs slower than fp32 would; "
                "precision auto picks fp32 here";
  return c;
}

AutocastGuard::AutocastGuard(Precision precision)
    : enabled_(precision == Precision::kBf16), previous_(at::autocast::is_cpu_enabled()) {
  TORCH_CHECK(precision != Precision::kAuto, "AutocastGuard: resolve precision 'auto' first");
  if (!enabled_) return;
  at::autocast::set_cpu_enabled(true);
  at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!enabled_) return;
  // Leaving the outermost region drops the cached bf16 copies of the weights.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_cpu_enabled(previous_);
}

}  // namespace attnlab
