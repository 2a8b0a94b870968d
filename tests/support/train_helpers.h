#pragma once
// Helpers shared by the train, bench and cli tests: a tiny model, parameter copying, reading
// key=value output. The general helpers are in support/common.h. Header-only.

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "model/encoder_model.h"
#include "support/common.h"

namespace attnlab::test {

// A one-layer transduction encoder small enough for many optimizer steps in a test.
inline ModelOptions tiny_model_options(int64_t vocab = 11, int64_t outputs = 7,
                                       int64_t d_model = 16, int64_t layers = 1) {
  ModelOptions m;
  m.embedding.vocab_size = vocab;
  m.embedding.d_model = d_model;
  m.embedding.max_len = 16;
  m.embedding.dropout = 0.0;
  m.encoder.num_layers = layers;
  m.encoder.layer.d_model = d_model;
  m.encoder.layer.num_heads = 2;
  m.encoder.layer.d_ff = 2 * d_model;
  m.encoder.layer.dropout = 0.0;
  m.task = TaskKind::kTransduction;
  m.num_outputs = outputs;
  return m;
}

// Copies every parameter and buffer of `from` into the same-named one of `to`.
inline void copy_state(torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard no_grad;
  auto params = to.named_parameters();
  for (const auto& p : from.named_parameters()) params[p.key()].copy_(p.value());
  auto buffers = to.named_buffers();
  for (const auto& b : from.named_buffers()) buffers[b.key()].copy_(b.value());
}

// step -> last_loss as written (exact text) in the "train" lines of run_dir/metrics.jsonl.
inline std::map<int64_t, std::string> logged_losses(const std::filesystem::path& run_dir) {
  std::ifstream in(run_dir / "metrics.jsonl");
  std::map<int64_t, std::string> out;
  static const std::regex kLine(R"re("kind": "train", "step": (\d+),.*"last_loss": ([^,]+),)re");
  std::string line;
  std::smatch m;
  while (std::getline(in, line))
    if (std::regex_search(line, m, kLine)) out[std::stoll(m[1])] = m[2];
  return out;
}

// Value of a "key=value" line in `text`, or "" when there is none.
inline std::string line_value(const std::string& text, const std::string& key) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
    start = end + 1;
  }
  return "";
}

}  // namespace attnlab::test
