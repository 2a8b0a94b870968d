#pragma once
// Resuming a run from a checkpoint older than the run directory's newest output abandons the
// later timeline: its checkpoints, attention records and metrics lines no longer describe the
// run. They are moved aside, never deleted, so that neither checkpoint pruning (which keeps
// the highest step numbers) nor the first new best.pt replaces the run's files with stale ones.

#include <cstdint>
#include <string>
#include <vector>

namespace attnlab {

struct AbandonedTimeline {
  std::string directory;           // <run_dir>/abandoned_<YYYYmmdd-HHMMSS>; "" when none
  std::vector<std::string> moved;  // what went there, as paths relative to the run directory
};

// For a run in `run_dir` resuming at `step`: moves into <run_dir>/abandoned_<time>/
//   - step_N.pt with N > step, and last.pt and best.pt whose stored step is > step;
//   - attention/step_N.pt with N > step (into abandoned_<time>/attention/);
//   - metrics.jsonl, whole, when it has a line whose "step" is > step; the run keeps the lines
//     up to `step` (rewritten atomically).
// Does nothing (and creates nothing) when no file is later than `step`. Call it while holding
// the directory's lock. Throws std::runtime_error naming the file it could not move.
AbandonedTimeline set_aside_abandoned_timeline(const std::string& run_dir, int64_t step);

}  // namespace attnlab
