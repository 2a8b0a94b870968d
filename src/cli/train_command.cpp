// attnlab train: launch a run from a YAML config, or resume one from a checkpoint.
#include <spdlog/spdlog.h>

#include <memory>

#include "attention_log/probe.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "config/config.h"
#include "train/run_setup.h"
#include "train/trainer.h"

namespace attnlab::cli {

namespace {

ArgParser train_parser(TrainRequest& r) {
  ArgParser parser(
      "train", "attnlab train --config FILE [--set KEY=VALUE]... | --resume CHECKPOINT",
      "Trains an encoder as the config says; the run lives in <run.out_dir>/<run.name>/\n"
      "(config.yaml, train.log, metrics.jsonl, checkpoints, attention/). Ctrl-C (SIGINT)\n"
      "or SIGTERM finishes the current step, saves last.pt and exits 0.");
  parser.option("config", &r.config_path, "YAML config file (docs/config.md lists every key)");
  parser.repeated(
      "set", &r.overrides,
      "override a config key, e.g. --set train.lr=3e-4 (repeatable; validated like the file)");
  parser.option(
      "resume", &r.resume,
      "continue the run that wrote this checkpoint (e.g. runs/reverse/last.pt), in its directory");
  parser.flag(
      "overwrite", &r.overwrite,
      "start afresh even if the run directory already holds checkpoints (they are deleted)");
  // train.resume: auto (what torchrun --max_restarts needs) is a config key; --resume names one.
  return parser;
}

// log.attention: records of the probe examples as the run trains (rank 0 only); null if off.
std::unique_ptr<AttentionLogger> attach_attention_logger(Trainer& trainer, const PreparedRun& run) {
  const Config& config = run.config;
  if (!config.log.attention.enabled || run.group->rank() != 0) return nullptr;
  auto attention =
      std::make_unique<AttentionLogger>(config.log.attention, trainer.task_spec(),
                                        trainer.valid_data(), run.run_dir, config.run.seed);
  spdlog::info("[attention] logging {} probe examples every {} steps into {}",
               attention->probes().size(), config.log.attention.every, attention->directory());
  AttentionLogger* logger = attention.get();
  trainer.set_step_hook([logger](EncoderModel& model, int64_t step, bool last) {
    logger->on_step(model, step, last);
  });
  return attention;
}

void log_summary(const TrainResult& result, const Trainer& trainer, const PreparedRun& run) {
  spdlog::info("[train] {} steps, best {}={:.4f} (step {}){}", result.steps,
               trainer.best_metric_name(), result.best_metric, result.best_step,
               result.best_checkpoint.empty() ? "" : ", saved to " + result.best_checkpoint);
  if (result.seconds_to_stop_at >= 0)
    spdlog::info("[train] time to target (train.stop_at={}): {:.1f} s", run.config.train.stop_at,
                 result.seconds_to_stop_at);
  if (result.stop_reason == "interrupted")
    spdlog::info("[train] interrupted; continue with: attnlab train --resume {}/last.pt",
                 run.run_dir);
}

}  // namespace

int train_command(const Args& args) {
  TrainRequest request;
  if (!train_parser(request).parse(args)) return kExitOk;
  if (request.config_path.empty() == request.resume.empty())
    throw UsageError("give exactly one of --config FILE (new run) or --resume CHECKPOINT");
  PreparedRun run = prepare_run(request);
  Trainer trainer(run.config, std::move(run.checkpoint), run.group.get());
  const auto attention = attach_attention_logger(trainer, run);
  const auto result = trainer.run();
  if (attention) {
    attention->flush();
    spdlog::info("[attention] {} records in {} (inspect: attnlab attn {})",
                 attention->records_written(), attention->directory(), run.run_dir);
  }
  log_summary(result, trainer, run);
  return kExitOk;
}

}  // namespace attnlab::cli
