#include "train/run_setup.h"

#include <ATen/ATen.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <exception>
#include <filesystem>

#include "io/atomic_file.h"
#include "train/trainer.h"

namespace attnlab {
namespace {

namespace fs = std::filesystem;

// Console plus <run_dir>/train.log, same format.
void log_to_run_dir(const std::string& run_dir) {
  auto console = std::make_shared<spdlog::sinks::stdout_color_sink_mt>();
  auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(
      (fs::path(run_dir) / "train.log").string(), /*truncate=*/false);
  auto logger = std::make_shared<spdlog::logger>("attnlab", spdlog::sinks_init_list{console, file});
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

// A data-parallel rank other than 0: the console only, warnings and errors only (rank 0 speaks
// for the run; torchrun prefixes each line with the worker).
void log_as_secondary_rank(int rank) {
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("attnlab", console);
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [rank " + std::to_string(rank) + "] %v");
  logger->set_level(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

// Takes the run directory's lock unless `lock` holds it already (held until the run ends: a
// second train into it stops there, naming this one); then, under the lock, refuses or clears an
// existing run for a new one, removes the temporary files of saves a kill interrupted
// (".<name>.tmp.<pid>", io/atomic_file.h), and starts train.log.
std::unique_ptr<DirectoryLock> prepare_run_directory(const std::string& run_dir, bool new_run,
                                                     bool overwrite,
                                                     std::unique_ptr<DirectoryLock> lock) {
  fs::create_directories(run_dir);
  if (!lock) lock = std::make_unique<DirectoryLock>(run_dir);
  if (new_run && has_run_output(run_dir)) {
    if (!overwrite)
      throw RunSetupError("run directory " + run_dir +
                          " already holds a run; resume it with --resume " +
                          (fs::path(run_dir) / "last.pt").string() +
                          ", pick another name with --set run.name=NAME, or pass --overwrite");
    for (const auto& entry : fs::directory_iterator(run_dir))
      if (entry.path().filename() != DirectoryLock::kFileName) fs::remove_all(entry.path());
  }
  std::vector<std::string> stale = remove_stale_temporary_files(run_dir);
  for (auto& path : remove_stale_temporary_files((fs::path(run_dir) / "attention").string()))
    stale.push_back(std::move(path));
  log_to_run_dir(run_dir);
  for (const auto& path : stale)
    spdlog::info("[train] removed {}, left by a save that was interrupted", path);
  return lock;
}

}  // namespace

bool has_run_output(const std::string& run_dir) {
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec)) return false;
  for (const auto& entry : fs::directory_iterator(run_dir, ec)) {
    const auto name = entry.path().filename().string();
    if (name == "metrics.jsonl" || entry.path().extension() == ".pt") return true;
  }
  return false;
}

std::string newest_checkpoint(const std::string& run_dir) {
  std::error_code ec;
  if (!fs::exists(run_dir, ec) && !ec) return "";
  std::string newest;
  fs::file_time_type newest_time{};
  fs::directory_iterator entries(run_dir, ec);
  for (; !ec && entries != fs::directory_iterator(); entries.increment(ec)) {
    const auto& entry = *entries;
    const auto name = entry.path().filename().string();
    const bool periodic = name.rfind("step_", 0) == 0 && entry.path().extension() == ".pt";
    if (name != "last.pt" && name != "best.pt" && !periodic) continue;
    const auto time = entry.last_write_time(ec);
    if (ec) break;
    if (newest.empty() || time > newest_time) {
      newest = entry.path().string();
      newest_time = time;
    }
  }
  if (ec)
    throw std::runtime_error("train.resume=auto: cannot read the run directory " + run_dir +
                             " to find its newest checkpoint: " + ec.message());
  return newest;
}

PreparedRun prepare_run(const TrainRequest& request) {
  if (request.config_path.empty() == request.resume.empty())
    throw RunSetupError("give exactly one of a config (new run) or a checkpoint to resume");
  const auto& config_path = request.config_path;
  const auto& overrides = request.overrides;
  const bool overwrite = request.overwrite;
  std::string resume = request.resume;
  // Under torchrun: rank 0 alone touches the run directory (below, and its lock here).
  LaunchEnv launch;
  try {
    launch = launch_env_from_environment();
  } catch (const std::invalid_argument& e) {
    throw RunSetupError(std::string("torchrun's environment: ") + e.what());
  }
  Config config;
  std::optional<Checkpoint> checkpoint;
  std::unique_ptr<DirectoryLock> lock;
  std::string resume_note;  // what train.resume=auto decided, for the log
  if (resume.empty()) {
    config = load_config(config_path, overrides);
    if (config.train.resume == ResumeMode::kAuto) {
      // Every restart of torchrun --max_restarts runs the same command line: with --overwrite
      // each would clear the run it should continue.
      if (overwrite)
        throw RunSetupError(
            "--overwrite and train.resume=auto contradict each other (every restart "
            "would clear the run it should continue); drop one of them");
      // Continue the run in the run directory from its newest checkpoint, as if --resume named
      // it (below); with none, start afresh. The lock comes first, so that no other process is
      // writing the directory while it is read.
      const auto run_dir = run_directory(config);
      if (launch.rank == 0) {
        fs::create_directories(run_dir);
        lock = std::make_unique<DirectoryLock>(run_dir);
      }
      resume = newest_checkpoint(run_dir);
      // Nothing to resume: a directory that holds a run's output without a checkpoint is
      // refused as for any new run (never cleared on the strength of "auto").
      if (resume.empty() && has_run_output(run_dir))
        throw RunSetupError(
            "train.resume=auto: " + run_dir +
            " holds a run but no checkpoint to "
            "resume from (last.pt, step_N.pt or best.pt); remove it, or pick another "
            "run.name");
      resume_note = "[train] train.resume=auto: " +
                    (resume.empty() ? "no checkpoint in " + run_dir + ", starting afresh"
                                    : "resuming from " + resume);
    }
  }
  if (!resume.empty()) {
    checkpoint = load_checkpoint(resume);
    config = parse_config(checkpoint->config_yaml, resume + " (stored config)", overrides);
    // Continue in the directory that holds the checkpoint.
    const auto run_dir = fs::absolute(resume).parent_path();
    config.run.out_dir = run_dir.parent_path().string();
    config.run.name = run_dir.filename().string();
    if (!resume_note.empty())
      resume_note += " (step " + std::to_string(checkpoint->state.step) + ")";
  }
  // Under torchrun: the global batch must split evenly, and the group forms before any work.
  if (launch.distributed() && config.train.batch_size % launch.world_size != 0)
    throw ConfigError("train.batch_size: " + std::to_string(config.train.batch_size) +
                      " is not divisible by WORLD_SIZE=" + std::to_string(launch.world_size) +
                      " (it is the global batch, split evenly over the ranks)");
  auto owned_group =
      std::make_unique<ProcessGroup>(launch, std::chrono::seconds(config.run.dist_timeout_s));
  ProcessGroup& group = *owned_group;

  const std::string run_dir = run_directory(config);
  if (launch.distributed()) {
    // Every rank read the checkpoint itself (its optimizer moments are not sent): they must have
    // read the same one, which needs the run directory on a file system all machines share.
    const double own = checkpoint ? static_cast<double>(checkpoint->state.step) : -1.0;
    auto step = at::tensor({own}, at::kDouble);  // (1)
    group.broadcast(step, /*root=*/0, "the step rank 0 resumes from");
    auto differ = at::tensor({step.item<double>() != own ? 1.0 : 0.0}, at::kDouble);  // (1)
    group.all_reduce_sum(differ, "whether the ranks resume from the same step");
    if (differ.item<double>() > 0.0)
      throw RunSetupError(
          "the ranks do not resume from the same checkpoint (rank " + std::to_string(group.rank()) +
          ": " + (checkpoint ? "step " + std::to_string(checkpoint->state.step) : "none") +
          ", rank 0: " +
          (step.item<double>() < 0
               ? "none"
               : "step " + std::to_string(static_cast<int64_t>(step.item<double>()))) +
          "); every machine must see the run directory " + run_dir + " (a shared file system)");
  }
  // Rank 0 alone touches the run directory; the others learn whether it could.
  std::exception_ptr setup_error;
  if (group.rank() == 0) {
    try {
      lock = prepare_run_directory(run_dir, /*new_run=*/!checkpoint, overwrite, std::move(lock));
    } catch (...) {
      setup_error = std::current_exception();
    }
  } else {
    log_as_secondary_rank(group.rank());
  }
  if (launch.distributed()) {
    auto ready = at::tensor({setup_error ? 0.0 : 1.0}, at::kDouble);  // (1)
    group.broadcast(ready, /*root=*/0, "whether rank 0 could set up the run directory");
    if (ready.item<double>() == 0.0 && !setup_error)
      throw RunSetupError("rank 0 could not set up the run directory " + run_dir +
                          " (its message says why)");
  }
  if (setup_error) std::rethrow_exception(setup_error);
  if (!resume_note.empty()) spdlog::info("{}", resume_note);

  return {std::move(config),      std::move(checkpoint), run_dir,
          std::move(resume_note), std::move(lock),       std::move(owned_group)};
}

}  // namespace attnlab
