#include "train/schedule.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace attnlab {

double learning_rate(const ScheduleOptions& o, int64_t step) {
  const double peak = o.peak_lr;
  if (o.warmup_steps > 0 && step <= o.warmup_steps)
    return peak * static_cast<double>(step) / static_cast<double>(o.warmup_steps);
  const double floor = peak * o.min_lr_ratio;
  const int64_t decay_steps = std::max<int64_t>(1, o.total_steps - o.warmup_steps);
  const double progress = std::clamp(
      static_cast<double>(step - o.warmup_steps) / static_cast<double>(decay_steps), 0.0, 1.0);
  switch (o.kind) {
    case ScheduleKind::kCosine:
      return floor + (peak - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
    case ScheduleKind::kLinear:
      return floor + (peak - floor) * (1.0 - progress);
    case ScheduleKind::kInverseSqrt:
      return peak * std::sqrt(static_cast<double>(std::max<int64_t>(o.warmup_steps, 1)) /
                              static_cast<double>(std::max<int64_t>(step, 1)));
    case ScheduleKind::kConstant:
      return peak;
  }
  return peak;
}

}  // namespace attnlab
