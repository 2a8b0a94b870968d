#pragma once
// Images as read from disk, before any normalisation: what the IDX and PNG-folder readers
// return and what an image Dataset encodes. A leaf header.

#include <ATen/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace attnlab {

// The largest height or width attnlab takes (checkpoints store the image shape; larger sides are
// refused when a run starts and when a checkpoint is read).
constexpr int64_t kMaxImageSide = 65536;

struct ImageSet {
  at::Tensor pixels;                // (N, C, H, W) uint8, C = 1 (grey) or 3 (RGB)
  std::vector<std::string> labels;  // class name of each image (N)
  std::vector<std::string> names;   // what predictions call each image (N): "file#index" for
                                    // IDX, the file name for a PNG folder
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

}  // namespace attnlab
