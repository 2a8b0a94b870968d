#include "train/checkpoint_average.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <regex>

namespace attnlab {

namespace fs = std::filesystem;

Checkpoint average_checkpoints(const std::vector<std::string>& paths) {
  if (paths.empty()) throw CheckpointError("average: no checkpoints given");
  std::vector<Checkpoint> checkpoints;
  checkpoints.reserve(paths.size());
  for (const auto& path : paths) checkpoints.push_back(load_checkpoint(path));
  const Checkpoint& first = checkpoints.front();
  for (size_t i = 1; i < checkpoints.size(); ++i) {
    const Checkpoint& c = checkpoints[i];
    const auto mismatch = [&](const std::string& what) {
      return CheckpointError("average: " + paths[i] + " does not match " + paths[0] + ": " + what);
    };
    if (c.src_vocab != first.src_vocab || c.tgt_vocab != first.tgt_vocab ||
        c.labels != first.labels || c.spm_model != first.spm_model)
      throw mismatch(
          "different vocabularies, labels or SentencePiece models (checkpoints of another run?)");
    if (c.model.size() != first.model.size())
      throw mismatch(std::to_string(c.model.size()) + " tensors against " +
                     std::to_string(first.model.size()));
    for (const auto& [name, tensor] : first.model) {
      const auto it = c.model.find(name);
      if (it == c.model.end()) throw mismatch("no tensor '" + name + "'");
      if (!it->second.sizes().equals(tensor.sizes()))
        throw mismatch("'" + name + "' has shape " + c10::str(it->second.sizes()) + " against " +
                       c10::str(tensor.sizes()));
    }
  }
  size_t newest = 0;
  for (size_t i = 1; i < checkpoints.size(); ++i)
    if (checkpoints[i].state.step > checkpoints[newest].state.step) newest = i;
  Checkpoint result = checkpoints[newest];
  const auto n = static_cast<double>(checkpoints.size());
  for (auto& [name, tensor] : result.model) {
    auto sum = at::zeros(tensor.sizes(), tensor.options().dtype(at::kDouble));
    for (const auto& c : checkpoints) sum.add_(c.model.at(name).to(at::kDouble));
    tensor = sum.div_(n).to(tensor.scalar_type());
  }
  return result;
}

std::vector<std::string> periodic_checkpoints(const std::string& run_dir) {
  static const std::regex kPeriodic(R"(step_(\d+)\.pt)");
  std::vector<std::pair<long long, std::string>> found;
  std::error_code error;
  for (fs::directory_iterator it(run_dir, error), end; !error && it != end; it.increment(error)) {
    std::smatch m;
    const std::string name = it->path().filename().string();
    if (std::regex_match(name, m, kPeriodic))
      found.emplace_back(std::stoll(m[1]), it->path().string());
  }
  if (error) throw CheckpointError("average: cannot list " + run_dir + ": " + error.message());
  std::sort(found.begin(), found.end());
  std::vector<std::string> paths;
  for (auto& f : found) paths.push_back(std::move(f.second));
  return paths;
}

}  // namespace attnlab
