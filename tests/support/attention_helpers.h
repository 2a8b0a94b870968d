#pragma once
// Shared fixtures of the attention_log tests: synthetic attention weights and records. The
// general helpers (scratch directory, shell, python) are in support/common.h.

#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "attention_log/record.h"
#include "support/common.h"

namespace attnlab::test {

// Rows of softmax(random) over each example's valid keys, zero elsewhere: (N, H, T, T).
inline at::Tensor random_weights(const std::vector<int64_t>& lengths, int64_t heads,
                                 uint64_t seed) {
  const auto N = static_cast<int64_t>(lengths.size());
  int64_t T = 0;
  for (auto L : lengths) T = std::max(T, L);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto w = at::zeros({N, heads, T, T});
  for (int64_t n = 0; n < N; ++n) {
    const auto L = lengths[static_cast<size_t>(n)];
    auto scores = at::randn({heads, L, L}, gen) * 2.0;  // (H, L, L)
    w[n].narrow(1, 0, L).narrow(2, 0, L).copy_(scores.softmax(-1));
  }
  return w;
}

// A small valid record: examples "the cat sat" / "a dog", layers `layers`, heads 0..heads-1.
inline AttentionRecord make_record(int64_t step, int64_t num_layers = 2, int64_t heads = 2,
                                   uint64_t seed = 1) {
  AttentionRecord r;
  r.step = step;
  r.source = "train";
  r.tokens = {{"the", "cat", "sat"}, {"a", "dog"}};
  r.lengths = {3, 2};
  for (int64_t l = 0; l < num_layers; ++l) r.layer_ids.push_back(l);
  for (int64_t h = 0; h < heads; ++h) r.head_ids.push_back(h);
  for (int64_t l = 0; l < num_layers; ++l)
    r.layers.push_back(random_weights(r.lengths, heads, seed * 1000 + static_cast<uint64_t>(l)));
  return r;
}

// make_record plus translation alignments: example 0 emits 2 tokens, example 1 none yet.
inline AttentionRecord make_translation_record(int64_t step) {
  auto r = make_record(step, 1, 1);
  RecordAlignment first;
  first.source = {"the", "cat", "sat"};
  first.outputs = {"gato", "sidis"};
  first.positions = {1, 4};
  first.weights = torch::tensor({{0.2f, 0.7f, 0.1f}, {0.0f, 0.25f, 0.75f}});
  RecordAlignment second;
  second.source = {"a", "dog"};
  second.weights = torch::zeros({0, 2});
  r.alignments = {first, second};
  return r;
}

// An image record: `n` grey 4x6 pictures (pixel (y, x) of picture k = 40 k + 10 y + x) in
// 2x2 patches (a 2x3 grid, T = 7 with <cls>), random weights, layers 0..num_layers-1.
inline AttentionRecord make_image_record(int64_t step, int64_t n = 2, int64_t num_layers = 2,
                                         int64_t heads = 2) {
  AttentionRecord r;
  r.step = step;
  r.source = "train";
  r.images.patch_size = 2;
  r.images.pixels = torch::zeros({n, 1, 4, 6}, torch::kByte);
  for (int64_t k = 0; k < n; ++k) {
    for (int64_t y = 0; y < 4; ++y)
      for (int64_t x = 0; x < 6; ++x) r.images.pixels[k][0][y][x] = 40 * k + 10 * y + x;
    r.images.names.push_back("pic#" + std::to_string(k) + " (label" + std::to_string(k) + ")");
    r.tokens.push_back(patch_tokens(2, 3));
    r.lengths.push_back(7);
  }
  for (int64_t l = 0; l < num_layers; ++l) r.layer_ids.push_back(l);
  for (int64_t h = 0; h < heads; ++h) r.head_ids.push_back(h);
  for (int64_t l = 0; l < num_layers; ++l)
    r.layers.push_back(random_weights(r.lengths, heads, 77 + static_cast<uint64_t>(l)));
  return r;
}

}  // namespace attnlab::test
