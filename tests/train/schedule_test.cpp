// Learning-rate schedules against values computed by hand.
#include "train/schedule.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

namespace attnlab {
namespace {

constexpr double kTol = 1e-12;

// peak 1, 10 warmup steps, decay over steps 11..110 (100 steps).
ScheduleOptions options(ScheduleKind kind, double min_lr_ratio = 0.0) {
  ScheduleOptions o;
  o.kind = kind;
  o.peak_lr = 1.0;
  o.warmup_steps = 10;
  o.total_steps = 110;
  o.min_lr_ratio = min_lr_ratio;
  return o;
}

TEST(Schedule, WarmupIsLinearFromPeakOverWarmup) {
  for (auto kind : {ScheduleKind::kCosine, ScheduleKind::kLinear, ScheduleKind::kInverseSqrt,
                    ScheduleKind::kConstant}) {
    auto o = options(kind);
    o.peak_lr = 2e-3;
    EXPECT_NEAR(learning_rate(o, 1), 2e-4, kTol);
    EXPECT_NEAR(learning_rate(o, 5), 1e-3, kTol);
    EXPECT_NEAR(learning_rate(o, 10), 2e-3, kTol);
  }
}

TEST(Schedule, Cosine) {
  const auto o = options(ScheduleKind::kCosine);
  EXPECT_NEAR(learning_rate(o, 60), 0.5, kTol);  // halfway through decay: half of peak
  // progress 1/4: (1 + cos(pi/4)) / 2
  EXPECT_NEAR(learning_rate(o, 35), 0.5 * (1.0 + std::sqrt(0.5)), kTol);
  EXPECT_NEAR(learning_rate(o, 85), 0.5 * (1.0 - std::sqrt(0.5)), kTol);
  EXPECT_NEAR(learning_rate(o, 110), 0.0, kTol);
  EXPECT_NEAR(learning_rate(o, 500), 0.0, kTol);  // past the end: stays at the floor
  EXPECT_LT(learning_rate(o, 11), 1.0);
  EXPECT_GT(learning_rate(o, 11), 0.999);
}

TEST(Schedule, CosineWithFloor) {
  const auto o = options(ScheduleKind::kCosine, 0.1);
  EXPECT_NEAR(learning_rate(o, 60), 0.1 + 0.9 * 0.5, kTol);
  EXPECT_NEAR(learning_rate(o, 110), 0.1, kTol);
  EXPECT_NEAR(learning_rate(o, 10000), 0.1, kTol);
  EXPECT_NEAR(learning_rate(o, 10), 1.0, kTol);  // the floor does not touch warmup's end
}

TEST(Schedule, Linear) {
  const auto o = options(ScheduleKind::kLinear);
  EXPECT_NEAR(learning_rate(o, 35), 0.75, kTol);
  EXPECT_NEAR(learning_rate(o, 60), 0.5, kTol);
  EXPECT_NEAR(learning_rate(o, 100), 0.1, kTol);
  EXPECT_NEAR(learning_rate(o, 110), 0.0, kTol);
  EXPECT_NEAR(learning_rate(o, 111), 0.0, kTol);
  const auto floored = options(ScheduleKind::kLinear, 0.2);
  EXPECT_NEAR(learning_rate(floored, 60), 0.2 + 0.8 * 0.5, kTol);
  EXPECT_NEAR(learning_rate(floored, 300), 0.2, kTol);
}

TEST(Schedule, InverseSqrt) {
  auto o = options(ScheduleKind::kInverseSqrt);
  o.warmup_steps = 100;
  o.total_steps = 1000;
  EXPECT_NEAR(learning_rate(o, 100), 1.0, kTol);
  EXPECT_NEAR(learning_rate(o, 400), 0.5, kTol);    // sqrt(100 / 400)
  EXPECT_NEAR(learning_rate(o, 10000), 0.1, kTol);  // keeps decaying past total_steps
  EXPECT_NEAR(learning_rate(o, 101), std::sqrt(100.0 / 101.0), kTol);
  o.warmup_steps = 0;  // no warmup: peak / sqrt(step)
  EXPECT_NEAR(learning_rate(o, 1), 1.0, kTol);
  EXPECT_NEAR(learning_rate(o, 4), 0.5, kTol);
}

TEST(Schedule, Constant) {
  const auto o = options(ScheduleKind::kConstant, 0.5);
  EXPECT_NEAR(learning_rate(o, 11), 1.0, kTol);
  EXPECT_NEAR(learning_rate(o, 110), 1.0, kTol);
  EXPECT_NEAR(learning_rate(o, 100000), 1.0, kTol);
}

TEST(Schedule, NoWarmupStartsAtPeak) {
  auto o = options(ScheduleKind::kLinear);
  o.warmup_steps = 0;
  o.total_steps = 100;
  EXPECT_NEAR(learning_rate(o, 1), 0.99, kTol);
  EXPECT_NEAR(learning_rate(o, 50), 0.5, kTol);
  EXPECT_NEAR(learning_rate(o, 100), 0.0, kTol);
}

}  // namespace
}  // namespace attnlab
