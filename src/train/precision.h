#pragma once
// Mixed precision: bf16 matmuls through LibTorch's CPU autocast, fp32 master weights.

#include <string>
#include "config/enums.h"

namespace attnlab {

// Enables CPU autocast to bfloat16 for its lifetime when precision is bf16; no-op for fp32.
// Softmax, LayerNorm and the loss stay fp32 (autocast's fp32 list and our explicit casts).
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
