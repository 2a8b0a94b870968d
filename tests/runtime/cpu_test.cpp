#include "runtime/cpu.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "support/common.h"

namespace attnlab {
namespace {

TEST(CpuInfo, NativeBf16AgreesWithTheKernelsCpuFlags) {
  if (std::getenv("ONEDNN_MAX_CPU_ISA")) GTEST_SKIP() << "oneDNN is capped by ONEDNN_MAX_CPU_ISA";
  const auto flags = test::cpuinfo_flags();
  if (flags.empty()) GTEST_SKIP() << "no /proc/cpuinfo flags";
  const bool bf16 = test::cpuinfo_has_native_bf16();
  const auto& info = cpu_info();
  EXPECT_EQ(info.native_bf16, bf16) << "oneDNN ISA " << info.onednn_isa << ", flags:" << flags;
  if (flags.find(" avx512f ") != std::string::npos) {
    EXPECT_EQ(info.onednn_isa.rfind("avx512_core", 0), 0u) << info.onednn_isa;
  } else if (flags.find(" avx2 ") != std::string::npos) {
    EXPECT_EQ(info.onednn_isa.rfind("avx2", 0), 0u) << info.onednn_isa;
  }
}

TEST(CpuInfo, ModelIsWhatLscpuReports) {
  const auto lscpu = test::run_shell("LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Model name: *//p'");
  if (lscpu.rc != 0 || lscpu.out.empty()) GTEST_SKIP() << "no lscpu";
  EXPECT_EQ(cpu_info().model + "\n", lscpu.out);
}

}  // namespace
}  // namespace attnlab
