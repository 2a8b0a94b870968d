// attnlab average: parameter averaging over checkpoints of one run.
#include <cstdio>
#include <filesystem>

#include "cli/args.h"
#include "cli/commands.h"
#include "train/checkpoint_average.h"

namespace attnlab::cli {

int average_command(const Args& args) {
  std::string out, run_dir;
  std::vector<std::string> inputs;
  int64_t last = 0;
  ArgParser parser("average", "attnlab average --out FILE (CHECKPOINT... | --last N RUN_DIR)",
                   "Averages the parameters of checkpoints of one run and writes a normal\n"
                   "checkpoint (the newest input's config, vocabularies and training state) that\n"
                   "eval and predict read. --last N takes the N newest periodic checkpoints\n"
                   "(step_*.pt) of RUN_DIR.");
  parser.option("out", &out, "checkpoint file to write (e.g. runs/translate/average.pt)");
  parser.option("last", &last, "average the N newest step_*.pt of the run directory given");
  parser.positionals("CHECKPOINT", &inputs, "checkpoint files, or with --last one run directory");
  if (!parser.parse(args)) return kExitOk;
  if (out.empty()) throw UsageError("--out FILE is required");
  if (last < 0) throw UsageError("--last expects a positive number, got " + std::to_string(last));
  std::vector<std::string> paths = inputs;
  if (last > 0) {
    if (inputs.size() != 1) throw UsageError("--last N takes exactly one RUN_DIR");
    run_dir = inputs.front();
    if (!std::filesystem::is_directory(run_dir))
      throw UsageError(run_dir + " is not a run directory");
    const auto periodic = periodic_checkpoints(run_dir);
    if (periodic.size() < static_cast<size_t>(last))
      throw UsageError(run_dir + " has " + std::to_string(periodic.size()) +
                       " periodic checkpoints (step_*.pt), fewer than --last " +
                       std::to_string(last));
    paths.assign(periodic.end() - last, periodic.end());
  }
  if (paths.empty()) throw UsageError("no checkpoints: give CHECKPOINT files or --last N RUN_DIR");
  const auto averaged = average_checkpoints(paths);
  save_checkpoint(out, averaged);
  std::fprintf(stderr, "averaged %zu checkpoints:", paths.size());
  for (const auto& p : paths) std::fprintf(stderr, " %s", p.c_str());
  std::fprintf(stderr, "\nwrote %s (step %lld)\n", out.c_str(),
               static_cast<long long>(averaged.state.step));
  return kExitOk;
}

}  // namespace attnlab::cli
