#pragma once
// What the CPU can do, as the libraries that compute on it see it. oneDNN runs LibTorch's and
// attnlab's matmuls; its effective ISA is the CPU's capability capped by ONEDNN_MAX_CPU_ISA, so
// a choice made from it (train.precision: auto) follows that cap like oneDNN's kernels do.

#include <string>

namespace attnlab {

struct CpuInfo {
  std::string model;       // "model name" of /proc/cpuinfo ("unknown CPU" when absent)
  std::string onednn_isa;  // oneDNN's effective ISA: "avx2", "avx512_core", "avx512_core_amx", ...
  bool native_bf16 = false;  // oneDNN runs bf16 matmuls in hardware (AVX512_BF16 or AMX-BF16)
};

// Read once per process (oneDNN fixes its ISA at first use).
const CpuInfo& cpu_info();

}  // namespace attnlab
