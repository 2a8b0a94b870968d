#pragma once
// What `attnlab train` does before the first step, as library calls (Marian's split: the
// command parses and prints, the library prepares): resolve the config and the checkpoint to
// continue (--resume, or train.resume=auto's newest checkpoint), take the run directory's lock,
// form the process group, make the ranks agree on the checkpoint, and let rank 0 prepare the
// run directory and its train.log. docs/training.md, "Resuming" and "Data-parallel training".

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.h"
#include "io/directory_lock.h"
#include "runtime/process_group.h"
#include "train/checkpoint.h"

namespace attnlab {

// A run that cannot start as asked (a run directory that already holds a run, --overwrite with
// train.resume=auto, ranks that see different checkpoints, torchrun's environment): exit 2.
class RunSetupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TrainRequest {
  std::string config_path;             // a new run (or train.resume=auto's), or
  std::string resume;                  // the checkpoint to continue (exactly one of the two)
  std::vector<std::string> overrides;  // --set KEY=VALUE, applied to either config
  bool overwrite = false;              // a new run may clear a directory holding another
};

struct PreparedRun {
  Config config;  // validated; run.out_dir/run.name name the run directory (a resumed run's
                  // is the one that holds its checkpoint)
  std::optional<Checkpoint> checkpoint;  // the one to continue, if any
  std::string run_dir;                   // run_directory(config)
  std::string resume_note;               // what train.resume=auto decided ("" otherwise)
  std::unique_ptr<DirectoryLock> lock;   // rank 0: held until the run ends
  std::unique_ptr<ProcessGroup> group;   // this process's ranks (a group of one without torchrun)
};

// All of it: reads torchrun's environment, resolves config and checkpoint (rank 0 locks the
// directory before reading it under train.resume=auto), checks that the global batch splits
// over the ranks (ConfigError), forms the group, makes sure every rank continues the same
// checkpoint, and has rank 0 prepare the run directory (refusing or, with overwrite, clearing
// another run's output; removing temporary files of interrupted saves) while the others wait.
// Logging goes to the console and <run_dir>/train.log on rank 0, warnings only on the others.
// Throws RunSetupError, ConfigError, CheckpointError or DirectoryInUseError before any work.
PreparedRun prepare_run(const TrainRequest& request);

// The newest checkpoint of the run in `run_dir` (last.pt, step_N.pt or best.pt, by the time it
// was written: saves are atomic renames, so a file's time is when it was complete), or "" when
// there is none or no such directory. A directory that cannot be read is an error, never "none".
std::string newest_checkpoint(const std::string& run_dir);

// Whether `run_dir` holds a run's output (metrics.jsonl or a checkpoint).
bool has_run_output(const std::string& run_dir);

}  // namespace attnlab
