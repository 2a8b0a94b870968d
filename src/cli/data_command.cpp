#include "cli/data_command.h"

#include <cstdint>
#include <filesystem>
#include <iostream>
#include <optional>
#include <utility>

#include "cli/commands.h"
#include "data/generate.h"

namespace attnlab::cli {
namespace {

std::string joined_task_names() {
  std::string names;
  for (const auto& name : task_names()) names += (names.empty() ? "" : ", ") + name;
  return names;
}

// A whole-string decimal integer in [min_value, max], else UsageError naming the option.
uint64_t parse_count(const std::string& option, const std::string& value, uint64_t min_value) {
  const std::string hint = "data: " + option + " expects a whole number";
  if (value.empty() || value.size() > 19 ||
      value.find_first_not_of("0123456789") != std::string::npos) {
    throw UsageError(hint + ", got '" + value + "'");
  }
  const uint64_t n = std::stoull(value);
  if (n < min_value) throw UsageError(hint + " >= " + std::to_string(min_value) + ", got " + value);
  return n;
}

}  // namespace

std::string data_usage() {
  return "usage: attnlab data --task NAME --out DIR [--seed N] [--train N] [--valid N] [--test N]\n"
         "\n"
         "Writes DIR/train.tsv, DIR/valid.tsv and DIR/test.tsv for a built-in toy task.\n"
         "\n"
         "  --task NAME  one of: " +
         joined_task_names() +
         "\n"
         "  --out DIR    output directory (created if missing; files are overwritten)\n"
         "  --seed N     random seed (default 1; the shipped data/ folders use 1)\n"
         "  --train N    training examples (default: the shipped size)\n"
         "  --valid N    validation examples (default: the shipped size)\n"
         "  --test N     test examples (default: the shipped size)\n"
         "  --help       print this help\n";
}

int data_command(const std::vector<std::string>& args, std::ostream& out) {
  std::optional<std::string> task, out_dir, seed, train, valid, test;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string option = args[i];
    if (option == "--help" || option == "-h") {
      out << data_usage();
      return kExitOk;
    }
    std::optional<std::string> inline_value;
    if (const auto eq = option.find('='); option.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = option.substr(eq + 1);
      option = option.substr(0, eq);
    }
    std::optional<std::string>* slot = option == "--task"    ? &task
                                       : option == "--out"   ? &out_dir
                                       : option == "--seed"  ? &seed
                                       : option == "--train" ? &train
                                       : option == "--valid" ? &valid
                                       : option == "--test"  ? &test
                                                             : nullptr;
    if (slot == nullptr) throw UsageError("data: unknown option '" + args[i] + "'");
    if (slot->has_value()) throw UsageError("data: " + option + " given twice");
    if (inline_value.has_value()) {
      *slot = *inline_value;
    } else {
      if (i + 1 >= args.size()) throw UsageError("data: " + option + " needs a value");
      *slot = args[++i];
    }
  }
  if (!task.has_value())
    throw UsageError("data: --task is required (one of: " + joined_task_names() + ")");
  if (!out_dir.has_value() || out_dir->empty()) throw UsageError("data: --out is required");
  bool known = false;
  for (const auto& name : task_names()) known = known || name == *task;
  if (!known)
    throw UsageError("data: unknown task '" + *task + "'; known tasks: " + joined_task_names());

  GenerateSizes sizes = default_sizes(*task);
  if (train) sizes.train = static_cast<int64_t>(parse_count("--train", *train, 1));
  if (valid) sizes.valid = static_cast<int64_t>(parse_count("--valid", *valid, 1));
  if (test) sizes.test = static_cast<int64_t>(parse_count("--test", *test, 1));
  const uint64_t seed_value = seed ? parse_count("--seed", *seed, 0) : 1;

  const TaskSplits splits = generate_task(*task, seed_value, sizes);
  write_task(splits, *out_dir);
  const std::filesystem::path dir(*out_dir);
  out << "[data] task=" << *task << " seed=" << seed_value << "\n";
  const std::vector<std::pair<std::string, const std::vector<Example>*>> written = {
      {"train", &splits.train}, {"valid", &splits.valid}, {"test", &splits.test}};
  for (const auto& [name, split] : written) {
    out << "[data] wrote " << (dir / (name + ".tsv")).string() << " (" << split->size()
        << " examples)\n";
  }
  out << "[data] sources shared with train: valid=" << count_overlap(splits.train, splits.valid)
      << " test=" << count_overlap(splits.train, splits.test) << "\n";
  return kExitOk;
}

int data_command(const std::vector<std::string>& args) { return data_command(args, std::cout); }

}  // namespace attnlab::cli
