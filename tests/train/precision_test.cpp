#include "train/precision.h"

#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/common.h"

namespace attnlab {
namespace {

CpuInfo cpu(bool native_bf16, const std::string& isa) {
  CpuInfo c;
  c.model = "test CPU";
  c.onednn_isa = isa;
  c.native_bf16 = native_bf16;
  return c;
}

TEST(ChoosePrecision, AutoPicksBf16OnlyWhereItIsNative) {
  const auto amx = choose_precision(Precision::kAuto, cpu(true, "avx512_core_amx"));
  EXPECT_EQ(amx.precision, Precision::kBf16);
  EXPECT_EQ(amx.reason, "auto: native bf16 matmuls on this CPU (oneDNN ISA avx512_core_amx)");
  EXPECT_EQ(amx.warning, "");
  const auto skylake = choose_precision(Precision::kAuto, cpu(false, "avx512_core"));
  EXPECT_EQ(skylake.precision, Precision::kFp32);
  EXPECT_EQ(skylake.reason, "auto: no native bf16 on this CPU (oneDNN ISA avx512_core)");
  EXPECT_EQ(skylake.warning, "");
}

TEST(ChoosePrecision, ExplicitValuesStayAndSlowBf16IsWarnedAbout) {
  for (const bool native : {false, true}) {
    const auto fp32 = choose_precision(Precision::kFp32, cpu(native, "x"));
    EXPECT_EQ(fp32.precision, Precision::kFp32);
    EXPECT_EQ(fp32.reason, "set explicitly");
    EXPECT_EQ(fp32.warning, "");
  }
  EXPECT_EQ(choose_precision(Precision::kBf16, cpu(true, "avx512_core_bf16")).warning, "");
  const auto slow = choose_precision(Precision::kBf16, cpu(false, "avx2"));
  EXPECT_EQ(slow.precision, Precision::kBf16);
  test::expect_contains(slow.warning, "without native bf16 (oneDNN ISA avx2)");
  test::expect_contains(slow.warning, "slower than fp32");
}

TEST(ChoosePrecision, AutocastNeedsAResolvedPrecision) {
  EXPECT_THROW(AutocastGuard{Precision::kAuto}, c10::Error);
  {
    AutocastGuard guard(Precision::kBf16);
    EXPECT_TRUE(at::autocast::is_cpu_enabled());
  }
  EXPECT_FALSE(at::autocast::is_cpu_enabled());
}

}  // namespace
}  // namespace attnlab
