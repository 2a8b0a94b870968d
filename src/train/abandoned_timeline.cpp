#include "train/abandoned_timeline.h"

#include <ctime>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "io/atomic_file.h"
#include "train/checkpoint.h"

namespace attnlab {
namespace {

namespace fs = std::filesystem;

// The step in a metrics.jsonl line, or -1 for a line without one.
int64_t line_step(const std::string& line) {
  static const std::regex kStep(R"re("step": ([0-9]+))re");
  std::smatch m;
  return std::regex_search(line, m, kStep) ? std::stoll(m[1]) : -1;
}

std::string timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d-%H%M%S", &utc);
  return buf;
}

}  // namespace

AbandonedTimeline set_aside_abandoned_timeline(const std::string& run_dir, int64_t step) {
  const fs::path root(run_dir);
  static const std::regex kPeriodic(R"(step_([0-9]+)\.pt)");
  std::vector<fs::path> later;  // relative to root
  auto scan_periodic = [&](const fs::path& folder) {
    std::error_code ec;
    if (!fs::is_directory(root / folder, ec)) return;
    for (const auto& entry : fs::directory_iterator(root / folder)) {
      std::smatch m;
      const auto name = entry.path().filename().string();
      if (std::regex_match(name, m, kPeriodic) && std::stoll(m[1]) > step)
        later.push_back(folder / name);
    }
  };
  scan_periodic("");
  scan_periodic("attention");
  for (const char* name : {"last.pt", "best.pt"}) {
    if (!fs::exists(root / name)) continue;
    // A checkpoint that cannot be read is no evidence of a later timeline: left where it is.
    try {
      if (load_checkpoint((root / name).string()).state.step > step) later.push_back(name);
    } catch (const CheckpointError&) {
    }
  }
  std::vector<std::string> kept_lines;
  bool metrics_later = false;
  if (std::ifstream in(root / "metrics.jsonl"); in) {
    for (std::string line; std::getline(in, line);) {
      if (line_step(line) > step)
        metrics_later = true;
      else
        kept_lines.push_back(line);
    }
  }
  AbandonedTimeline result;
  if (later.empty() && !metrics_later) return result;

  fs::path aside = root / ("abandoned_" + timestamp());
  for (int k = 2; fs::exists(aside); ++k)
    aside = root / ("abandoned_" + timestamp() + "-" + std::to_string(k));
  fs::create_directories(aside);
  result.directory = aside.string();
  for (const auto& relative : later) {
    fs::create_directories((aside / relative).parent_path());
    std::error_code ec;
    fs::rename(root / relative, aside / relative, ec);
    if (ec)
      throw std::runtime_error("cannot move " + (root / relative).string() + " to " +
                               (aside / relative).string() + ": " + ec.message());
    result.moved.push_back(relative.string());
  }
  if (metrics_later) {
    std::error_code ec;
    fs::copy_file(root / "metrics.jsonl", aside / "metrics.jsonl", ec);
    if (ec)
      throw std::runtime_error("cannot copy " + (root / "metrics.jsonl").string() + " to " +
                               aside.string() + ": " + ec.message());
    std::string text;
    for (const auto& line : kept_lines) text += line + "\n";
    write_file_atomically((root / "metrics.jsonl").string(),
                          std::vector<char>(text.begin(), text.end()));
    result.moved.push_back("metrics.jsonl");
  }
  return result;
}

}  // namespace attnlab
