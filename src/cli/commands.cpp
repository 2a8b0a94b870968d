#include "cli/commands.h"

#include <c10/util/Exception.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>
#include <string>

#include "attention_log/record.h"
#include "config/config.h"
#include "data/tsv.h"
#include "io/directory_lock.h"
#include "io/text.h"
#include "train/checkpoint.h"
#include "train/run_setup.h"

namespace attnlab::cli {
namespace {

struct Command {
  const char* name;
  int (*run)(const Args&);
  const char* summary;
};

constexpr Command kCommands[] = {
    {"train", train_command, "train a model from a YAML config (or resume a run)"},
    {"eval", eval_command, "evaluate a checkpoint on a split or a TSV file"},
    {"predict", predict_command, "run a checkpoint on input texts (arguments or stdin)"},
    {"attn", attn_command, "inspect attention logs: terminal heatmaps, summaries, HTML"},
    {"data", data_command, "generate the toy datasets (reverse, translate, classify)"},
    {"bench", bench_command, "benchmark training and inference throughput"},
    {"average", average_command, "average the parameters of checkpoints into a new checkpoint"},
};

void print_usage(std::FILE* out) {
  std::fprintf(out,
               "usage: attnlab <command> [options]   (attnlab <command> --help)\n\ncommands:\n");
  for (const auto& c : kCommands) std::fprintf(out, "  %-8s %s\n", c.name, c.summary);
  std::fprintf(out,
               "\nexit codes: 0 success, 1 failure while running, 2 bad usage, config or input\n");
}

}  // namespace

int run_main(int argc, char** argv) {
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  if (argc < 2) {
    print_usage(stderr);
    return kExitUsage;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(stdout);
    return kExitOk;
  }
  const Command* command = nullptr;
  for (const auto& c : kCommands)
    if (name == c.name) command = &c;
  if (!command) {
    std::fprintf(stderr, "attnlab: unknown command '%s'\n\n", name.c_str());
    print_usage(stderr);
    return kExitUsage;
  }
  const Args args(argv + 2, argv + argc);
  try {
    return command->run(args);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "attnlab %s: %s\n(see attnlab %s --help)\n", command->name, e.what(),
                 command->name);
    return kExitUsage;
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "attnlab %s: config error: %s\n", command->name, e.what());
    return kExitUsage;
  } catch (const DataError& e) {
    std::fprintf(stderr, "attnlab %s: data error: %s\n", command->name, e.what());
    return kExitUsage;
  } catch (const AttentionLogError& e) {
    std::fprintf(stderr, "attnlab %s: %s\n", command->name, e.what());
    return kExitUsage;
  } catch (const CheckpointError& e) {
    std::fprintf(stderr, "attnlab %s: %s\n", command->name, e.what());
    return kExitUsage;
  } catch (const RunSetupError& e) {
    std::fprintf(stderr, "attnlab %s: %s\n", command->name, e.what());
    return kExitUsage;
  } catch (const DirectoryInUseError& e) {
    std::fprintf(stderr, "attnlab %s: %s\n", command->name, e.what());
    return kExitUsage;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "attnlab %s: error: %s\n", command->name,
                 first_line(e.what_without_backtrace()).c_str());
    return kExitFailure;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attnlab %s: error: %s\n", command->name, first_line(e.what()).c_str());
    return kExitFailure;
  }
}

}  // namespace attnlab::cli
