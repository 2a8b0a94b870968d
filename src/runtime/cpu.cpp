#include "runtime/cpu.h"

#include <oneapi/dnnl/dnnl.h>

#include <fstream>

namespace attnlab {
namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) break;
    const auto start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "unknown CPU" : line.substr(start);
  }
  return "unknown CPU";
}

// The names ONEDNN_MAX_CPU_ISA takes, lower case.
std::string isa_name(dnnl_cpu_isa_t isa) {
  switch (isa) {
    case dnnl_cpu_isa_all:
      return "all";
    case dnnl_cpu_isa_sse41:
      return "sse41";
    case dnnl_cpu_isa_avx:
      return "avx";
    case dnnl_cpu_isa_avx2:
      return "avx2";
    case dnnl_cpu_isa_avx2_vnni:
      return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic:
      return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops:
      return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core:
      return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx:
      return "avx512_core_amx";
  }
  return "isa_" + std::to_string(static_cast<int>(isa));
}

}  // namespace

const CpuInfo& cpu_info() {
  static const CpuInfo info = [] {
    CpuInfo i;
    i.model = cpu_model();
    const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    i.onednn_isa = isa_name(isa);
    // oneDNN's ISA values are bit sets: each level holds the bits of the levels it extends.
    i.native_bf16 = (static_cast<unsigned>(isa) & dnnl_cpu_isa_avx512_core_bf16) ==
                    static_cast<unsigned>(dnnl_cpu_isa_avx512_core_bf16);
    return i;
  }();
  return info;
}

}  // namespace attnlab
