#include "cli/data_command.h"

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <utility>

#include "cli/args.h"
#include "cli/commands.h"
#include "data/generate.h"

namespace attnlab::cli {
namespace {

// An option given (non-empty), or none.
std::optional<std::string> optional(const std::string& value) {
  return value.empty() ? std::nullopt : std::optional<std::string>(value);
}

std::string joined_dataset_names() {
  std::string names;
  for (const auto& name : task_names()) names += (names.empty() ? "" : ", ") + name;
  return names;
}

// A whole-string decimal integer in [min_value, max], else UsageError naming the option.
uint64_t parse_count(const std::string& option, const std::string& value, uint64_t min_value) {
  const std::string hint = "" + option + " expects a whole number";
  if (value.empty() || value.size() > 19 ||
      value.find_first_not_of("0123456789") != std::string::npos) {
    throw UsageError(hint + ", got '" + value + "'");
  }
  const uint64_t n = std::stoull(value);
  if (n < min_value) throw UsageError(hint + " >= " + std::to_string(min_value) + ", got " + value);
  return n;
}

}  // namespace

namespace {

// The one parser of `attnlab data`, writing into the given strings.
struct DataArgs {
  std::string dataset, old_task, out_dir, seed, train, valid, test;
};

ArgParser data_parser(DataArgs& a) {
  ArgParser parser(
      "data", "attnlab data --dataset NAME --out DIR [--seed N] [--train N] [--valid N] [--test N]",
      "Writes DIR/train.tsv, DIR/valid.tsv and DIR/test.tsv of a built-in toy dataset\n"
      "(docs/data.md). Files already there are overwritten.");
  parser.option("dataset", &a.dataset, "one of: " + joined_dataset_names());
  parser.option("task", &a.old_task,
                "the old spelling of --dataset (still accepted, with a warning)");
  parser.option("out", &a.out_dir, "output directory (created if missing)");
  parser.option("seed", &a.seed, "random seed (default 1; the shipped data/ folders use 1)");
  parser.option("train", &a.train, "training examples (default: the shipped size)");
  parser.option("valid", &a.valid, "validation examples (default: the shipped size)");
  parser.option("test", &a.test, "test examples (default: the shipped size)");
  return parser;
}

}  // namespace

std::string data_usage() {
  DataArgs unused;
  return data_parser(unused).help();
}

int data_command(const std::vector<std::string>& args, std::ostream& out) {
  DataArgs a;
  auto parser = data_parser(a);
  if (!parser.parse(args)) return kExitOk;
  if (!a.old_task.empty()) {
    if (!a.dataset.empty()) throw UsageError("give --dataset, not also --task (its old name)");
    // stderr, never std::cerr: io/sentencepiece_abi.h says why.
    std::fprintf(stderr,
                 "[data] warning: --task is the old name of --dataset (data.task in a config "
                 "names a task, not a dataset); use --dataset %s\n",
                 a.old_task.c_str());
    a.dataset = a.old_task;
  }
  if (a.dataset.empty())
    throw UsageError("--dataset is required (one of: " + joined_dataset_names() + ")");
  if (a.out_dir.empty()) throw UsageError("--out is required");
  bool known = false;
  for (const auto& name : task_names()) known = known || name == a.dataset;
  if (!known)
    throw UsageError("unknown dataset '" + a.dataset +
                     "'; known datasets: " + joined_dataset_names());
  const std::optional<std::string> train = optional(a.train), valid = optional(a.valid),
                                   test = optional(a.test), seed = optional(a.seed);

  GenerateSizes sizes = default_sizes(a.dataset);
  if (train) sizes.train = static_cast<int64_t>(parse_count("--train", *train, 1));
  if (valid) sizes.valid = static_cast<int64_t>(parse_count("--valid", *valid, 1));
  if (test) sizes.test = static_cast<int64_t>(parse_count("--test", *test, 1));
  const uint64_t seed_value = seed ? parse_count("--seed", *seed, 0) : 1;

  const TaskSplits splits = generate_task(a.dataset, seed_value, sizes);
  write_task(splits, a.out_dir);
  const std::filesystem::path dir(a.out_dir);
  out << "[data] dataset=" << a.dataset << " seed=" << seed_value << "\n";
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
