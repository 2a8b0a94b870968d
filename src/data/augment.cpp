#include "data/augment.h"

#include <ATen/ATen.h>

#include <random>

#include "data/random.h"

namespace attnlab {

ImageTransform draw_transform(const AugmentOptions& options, uint64_t seed, int64_t epoch,
                              int64_t index) {
  constexpr uint64_t kAugmentSalt = 0x61756760;  // "aug`": apart from epoch_order's stream
  std::mt19937_64 rng(
      mix_seed(mix_seed(mix_seed(seed ^ kAugmentSalt) ^ static_cast<uint64_t>(epoch)) ^
               static_cast<uint64_t>(index)));
  ImageTransform t;
  const int64_t pad = options.crop_padding;
  if (pad > 0) {
    t.dy = uniform_int(rng, -pad, pad);
    t.dx = uniform_int(rng, -pad, pad);
  }
  if (options.flip) t.mirror = uniform_below(rng, 2) == 1;
  return t;
}

at::Tensor augment_images(const at::Tensor& images, const std::vector<int64_t>& indices,
                          const AugmentOptions& options, uint64_t seed, int64_t epoch) {
  TORCH_CHECK(images.dim() == 4 && images.scalar_type() == at::kByte,
              "augment_images: images must be (B, C, H, W) uint8, got ", images.sizes(), " ",
              images.scalar_type());
  TORCH_CHECK(images.size(0) == static_cast<int64_t>(indices.size()),
              "augment_images: ", images.size(0), " images but ", indices.size(), " indices");
  TORCH_CHECK(options.crop_padding >= 0, "augment_images: crop_padding must be >= 0");
  if (options.crop_padding == 0 && !options.flip) return images;
  const auto B = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  auto in = images.contiguous();
  auto out = at::zeros_like(in);  // (B, C, H, W); pixels shifted in from outside stay 0
  const uint8_t* src = in.data_ptr<uint8_t>();
  uint8_t* dst = out.data_ptr<uint8_t>();
  for (int64_t b = 0; b < B; ++b) {
    const auto t = draw_transform(options, seed, epoch, indices[static_cast<size_t>(b)]);
    for (int64_t c = 0; c < C; ++c) {
      const uint8_t* plane = src + (b * C + c) * H * W;
      uint8_t* target = dst + (b * C + c) * H * W;
      for (int64_t y = 0; y < H; ++y) {
        const int64_t sy = y + t.dy;
        if (sy < 0 || sy >= H) continue;
        for (int64_t x = 0; x < W; ++x) {
          const int64_t sx = (t.mirror ? W - 1 - x : x) + t.dx;
          if (sx >= 0 && sx < W) target[y * W + x] = plane[sy * W + sx];
        }
      }
    }
  }
  return out;
}

}  // namespace attnlab
