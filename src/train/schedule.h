#pragma once
// Learning-rate schedules: linear warmup, then cosine / linear / inverse-sqrt decay or constant.

#include <cstdint>
#include <string>

#include "config/enums.h"

namespace attnlab {

struct ScheduleOptions {
  ScheduleKind kind = ScheduleKind::kCosine;  // decay after warmup
  double peak_lr = 1e-3;                      // lr reached at the end of warmup
  int64_t warmup_steps = 100;                 // linear ramp from peak_lr / warmup_steps
  int64_t total_steps = 1000;                 // decay reaches min_lr_ratio * peak_lr here
  double min_lr_ratio = 0.0;                  // floor of cosine / linear decay
};

// Learning rate for 1-based step `step`.
double learning_rate(const ScheduleOptions& options, int64_t step);

}  // namespace attnlab
