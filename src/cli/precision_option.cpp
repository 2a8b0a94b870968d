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

void check_checkpoint_precision_option(const std::string& value) {
  if (value != "checkpoint" && !enum_from_name<Precision>(value))
    throw UsageError("--precision must be checkpoint, auto, fp32 or bf16, got '" + value + "'");
}

Precision precision_for_checkpoint(const std::string& value, Precision trained) {
  check_checkpoint_precision_option(value);
  return precision_from_option(value == "checkpoint" ? name_of(trained) : value);
}

}  // namespace attnlab::cli
