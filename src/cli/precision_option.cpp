#include "cli/precision_option.h"

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "runtime/cpu.h"
#include "train/precision.h"

namespace attnlab::cli {

Precision precision_from_option(const std::string& value) {
  const auto parsed = enum_from_name<Precision>(value);
  if (!parsed) throw UsageError("--precision must be auto, fp32 or bf16, got '" + value + "'");
  const auto choice = choose_precision(*parsed, cpu_info());
  if (!choice.warning.empty()) spdlog::warn("precision: {}", choice.warning);
  return choice.precision;
}

}  // namespace attnlab::cli
