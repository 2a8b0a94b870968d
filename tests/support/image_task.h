#pragma once
// A tiny image task for the image tests, written as plain IDX files (the layout MNIST uses):
// 8x8 grey images in 4 classes; class k has a bright 4x4 block in quadrant k (0 top-left,
// 1 top-right, 2 bottom-left, 3 bottom-right) on a dim noisy background. Header-only.

#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace attnlab::test {

// Writes an IDX file of unsigned bytes with the given dims (big-endian header).
inline void write_idx(const std::string& path, const std::vector<int64_t>& dims,
                      const std::vector<uint8_t>& data) {
  std::ofstream out(path, std::ios::binary);
  const unsigned char magic[4] = {0, 0, 0x08, static_cast<unsigned char>(dims.size())};
  out.write(reinterpret_cast<const char*>(magic), 4);
  for (const int64_t d : dims) {
    const unsigned char be[4] = {static_cast<unsigned char>(d >> 24),
                                 static_cast<unsigned char>(d >> 16),
                                 static_cast<unsigned char>(d >> 8), static_cast<unsigned char>(d)};
    out.write(reinterpret_cast<const char*>(be), 4);
  }
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

struct QuadrantImages {
  std::vector<uint8_t> pixels;  // n * 8 * 8
  std::vector<uint8_t> labels;  // n, in 0..3
};

inline QuadrantImages quadrant_images(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  QuadrantImages q;
  q.pixels.assign(static_cast<size_t>(n * 64), 0);
  for (int64_t i = 0; i < n; ++i) {
    const int label = static_cast<int>(i % 4);
    q.labels.push_back(static_cast<uint8_t>(label));
    const int top = label / 2 * 4, left = label % 2 * 4;
    for (int y = 0; y < 8; ++y)
      for (int x = 0; x < 8; ++x) {
        const bool block = y >= top && y < top + 4 && x >= left && x < left + 4;
        q.pixels[static_cast<size_t>(i * 64 + y * 8 + x)] =
            static_cast<uint8_t>(block ? 180 + rng() % 76 : rng() % 60);
      }
  }
  return q;
}

// <dir>/<split>-images-idx3-ubyte and <dir>/<split>-labels-idx1-ubyte (n images).
inline void write_quadrant_split(const std::string& dir, const std::string& split, int64_t n,
                                 uint32_t seed) {
  const auto q = quadrant_images(n, seed);
  write_idx(dir + "/" + split + "-images-idx3-ubyte", {n, 8, 8}, q.pixels);
  write_idx(dir + "/" + split + "-labels-idx1-ubyte", {n}, q.labels);
}

}  // namespace attnlab::test
