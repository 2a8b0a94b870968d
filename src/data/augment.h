#pragma once
// Training-time image augmentation: a random crop of the original size from the zero-padded
// image, and a random left-right mirror. Each image's draw depends only on (seed, epoch, its
// index in the split), never on the batch it lands in, the rank that takes it or the time:
// a resumed or data-parallel run sees exactly the pictures one uninterrupted process would.

#include <ATen/Tensor.h>

#include <cstdint>
#include <vector>

namespace attnlab {

struct AugmentOptions {
  int64_t crop_padding = 0;  // shift by up to this many pixels each way (zeros fill in); 0 = off
  bool flip = false;         // mirror left-right with probability 1/2
};

// What one image gets: output(y, x) = input(y + dy, x' + dx), x' = W - 1 - x when mirrored,
// zero where that falls outside the image.
struct ImageTransform {
  int64_t dy = 0, dx = 0;
  bool mirror = false;
};

// The transform of image `index` in `epoch` (portable draws, data/random.h).
ImageTransform draw_transform(const AugmentOptions& options, uint64_t seed, int64_t epoch,
                              int64_t index);

// images: (B, C, H, W) uint8, the split's images `indices` (B of them) -> a new (B, C, H, W)
// uint8 tensor. Returns the input itself when the options do nothing.
at::Tensor augment_images(const at::Tensor& images, const std::vector<int64_t>& indices,
                          const AugmentOptions& options, uint64_t seed, int64_t epoch);

}  // namespace attnlab
