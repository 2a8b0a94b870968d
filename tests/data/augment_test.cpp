// Tests for src/data/augment.{h,cpp}: each image's transform depends on (seed, epoch, index)
// alone, it moves pixels as ImageTransform documents, its draws cover the configured range, and
// "off" changes nothing.

#include "data/augment.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "support/common.h"

namespace attnlab {
namespace {

AugmentOptions both() {
  AugmentOptions o;
  o.crop_padding = 2;
  o.flip = true;
  return o;
}

TEST(Augment, AnImageLooksTheSameInAnyBatch) {
  auto images = torch::randint(0, 256, {6, 1, 7, 5}, torch::kLong).to(torch::kByte);
  const std::vector<int64_t> indices{4, 17, 3, 99, 0, 12};
  auto whole = augment_images(images, indices, both(), /*seed=*/5, /*epoch=*/2);
  // The same images in other batches: the last three alone, and in reverse order.
  auto part = augment_images(images.slice(0, 3), {99, 0, 12}, both(), 5, 2);
  EXPECT_TRUE(torch::equal(part, whole.slice(0, 3)));
  auto reversed = augment_images(images.flip(0), {12, 0, 99, 3, 17, 4}, both(), 5, 2);
  EXPECT_TRUE(torch::equal(reversed, whole.flip(0)));
  // Another epoch or seed gives other pictures.
  EXPECT_FALSE(torch::equal(augment_images(images, indices, both(), 5, 3), whole));
  EXPECT_FALSE(torch::equal(augment_images(images, indices, both(), 6, 2), whole));
}

// A single lit pixel at (y, x) lands where output(y', x') = input(y' + dy, x'' + dx) puts it,
// x'' = W - 1 - x' when mirrored, and nowhere else; what falls off the edge is gone.
TEST(Augment, PixelsMoveAsTheDrawnTransformSays) {
  constexpr int64_t kH = 7, kW = 5;
  int mirrored = 0, shifted = 0;
  for (int64_t index = 0; index < 40; ++index) {
    auto image = torch::zeros({1, 1, kH, kW}, torch::kByte);
    image[0][0][3][1] = 200;
    const auto t = draw_transform(both(), 5, 0, index);
    auto out = augment_images(image, {index}, both(), 5, 0);
    // Solve y' + dy = 3 and x'' + dx = 1 for the output position.
    const int64_t y = 3 - t.dy, xs = 1 - t.dx, x = t.mirror ? kW - 1 - xs : xs;
    const bool inside = y >= 0 && y < kH && x >= 0 && x < kW;
    EXPECT_EQ(out.sum().item<int64_t>(), inside ? 200 : 0) << "index " << index;
    if (inside) {
      EXPECT_EQ(out[0][0][y][x].item<int64_t>(), 200) << "index " << index;
    }
    mirrored += t.mirror;
    shifted += t.dy != 0 || t.dx != 0;
  }
  EXPECT_GT(mirrored, 5);
  EXPECT_LT(mirrored, 35);
  EXPECT_GT(shifted, 20);
}

TEST(Augment, ShiftsCoverThePaddingAndNoMore) {
  std::set<int64_t> dys, dxs;
  for (int64_t index = 0; index < 500; ++index) {
    const auto t = draw_transform(both(), 1, 0, index);
    dys.insert(t.dy);
    dxs.insert(t.dx);
  }
  EXPECT_EQ(dys, (std::set<int64_t>{-2, -1, 0, 1, 2}));
  EXPECT_EQ(dxs, (std::set<int64_t>{-2, -1, 0, 1, 2}));
}

TEST(Augment, OffLeavesImagesAlone) {
  auto images = torch::randint(0, 256, {3, 3, 4, 4}, torch::kLong).to(torch::kByte);
  auto out = augment_images(images, {0, 1, 2}, AugmentOptions{}, 1, 0);
  EXPECT_TRUE(torch::equal(out, images));
  AugmentOptions flip_only;
  flip_only.flip = true;
  auto flipped = augment_images(images, {0, 1, 2}, flip_only, 1, 0);
  for (int64_t b = 0; b < 3; ++b) {
    const bool mirror = draw_transform(flip_only, 1, 0, b).mirror;
    EXPECT_TRUE(torch::equal(flipped[b], mirror ? images[b].flip(2) : images[b])) << b;
  }
}

}  // namespace
}  // namespace attnlab
