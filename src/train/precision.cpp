#include "train/precision.h"

#include <stdexcept>

#include <ATen/autocast_mode.h>

namespace attnlab {

AutocastGuard::AutocastGuard(Precision precision)
    : enabled_(precision == Precision::kBf16), previous_(at::autocast::is_cpu_enabled()) {
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
