#include "attention_log/image_attention.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "attention_log/heatmap.h"
#include "attention_log/svg_png.h"
#include "io/png.h"
#include "support/common.h"

namespace attnlab {
namespace {

using test::error_message;
using test::expect_contains;
using test::ScratchDir;

// One channel of an overlay pixel as the header defines it.
uint8_t blended(uint8_t image, uint8_t heat) {
  return static_cast<uint8_t>(std::lround((1 - kOverlayAlpha) * image + kOverlayAlpha * heat));
}

// The values of `t` as a Python list literal, exact in double.
std::string python_list(const at::Tensor& t) {
  const auto flat = t.to(at::kDouble).contiguous().view(-1);
  std::string s = "[";
  char buf[40];
  for (int64_t i = 0; i < flat.numel(); ++i) {
    std::snprintf(buf, sizeof(buf), "%.17g", flat[i].item<double>());
    s += (i ? ", " : "") + std::string(buf);
  }
  return s + "]";
}

size_t count_of(const std::string& text, const std::string& part) {
  size_t count = 0;
  for (auto pos = text.find(part); pos != std::string::npos; pos = text.find(part, pos + 1))
    ++count;
  return count;
}

// Single-head layers on T = 2:
//   W1 = [[1, 0], [.5, .5]] -> (W1 + I) / rowsum = A1 = [[1, 0], [.25, .75]]
//   W2 = [[0, 1], [1, 0]]   -> A2 = [[.5, .5], [.5, .5]]
//   A2 A1 = [[.625, .375], [.625, .375]]  (A1 A2 would be all .5: the order matters)
// Two heads [[1, 0], [0, 1]] and [[0, 1], [1, 0]] average to .5 everywhere: A = [[.75, .25], [.25,
// .75]].
TEST(ImageAttention, RolloutMatchesHandComputedTwoByTwo) {
  const auto w1 = torch::tensor({1.0, 0.0, 0.5, 0.5}).view({1, 2, 2});
  const auto w2 = torch::tensor({0.0, 1.0, 1.0, 0.0}).view({1, 2, 2});
  const auto one = attention_rollout({w1});
  EXPECT_EQ(one.scalar_type(), at::kFloat);
  EXPECT_LT(test::max_abs_diff(one, torch::tensor({1.0, 0.0, 0.25, 0.75}).view({2, 2})), 1e-7);
  const auto two = attention_rollout({w1, w2});
  EXPECT_LT(test::max_abs_diff(two, torch::tensor({0.625, 0.375, 0.625, 0.375}).view({2, 2})),
            1e-7);
  const auto heads =
      torch::stack({torch::eye(2), torch::tensor({0.0, 1.0, 1.0, 0.0}).view({2, 2})});
  EXPECT_LT(test::max_abs_diff(attention_rollout({heads}),
                               torch::tensor({0.75, 0.25, 0.25, 0.75}).view({2, 2})),
            1e-7);
}

// 2 layers of 2 heads, T = 5, random softmax rows, against the rollout of Abnar & Zuidema's own
// code (attention_flow, compute_joint_attention) written in Python torch, in float64.
TEST(ImageAttention, RolloutMatchesPythonTorch) {
  constexpr int64_t kL = 2, kH = 2, kT = 5;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(17);
  std::vector<at::Tensor> layers;
  for (int64_t l = 0; l < kL; ++l)
    layers.push_back((at::randn({kH, kT, kT}, gen) * 2.0).softmax(-1));  // (H, T, T)
  const auto rollout = attention_rollout(layers);                        // (T, T)
  ASSERT_EQ(rollout.sizes(), (std::vector<int64_t>{kT, kT}));
  EXPECT_LT(test::max_abs_diff(rollout.sum(-1), torch::ones({kT})), 1e-6);

  if (!test::python_has("torch")) GTEST_SKIP() << "no torch for /usr/bin/python3";
  ScratchDir dir;
  const auto result = test::run_python(dir, R"PY(
import torch
L, H, T = )PY" + std::to_string(kL) + ", " + std::to_string(kH) +
                                                ", " + std::to_string(kT) + R"PY(
att = torch.tensor()PY" + python_list(torch::stack(layers)) +
                                                R"PY(, dtype=torch.float64).view(L, H, T, T)
att_mat = att.mean(dim=1)                                  # (L, T, T)
residual_att = torch.eye(T, dtype=torch.float64)[None]
aug_att_mat = att_mat + residual_att
aug_att_mat = aug_att_mat / aug_att_mat.sum(dim=-1)[..., None]
joint = aug_att_mat[0]
for n in range(1, L):
    joint = aug_att_mat[n] @ joint
for row in joint.tolist():
    print(" ".join(repr(v) for v in row))
)PY");
  ASSERT_EQ(result.rc, 0) << result.out;
  std::istringstream in(result.out);
  std::vector<double> expected;
  for (double v; in >> v;) expected.push_back(v);
  ASSERT_EQ(expected.size(), static_cast<size_t>(kT * kT)) << result.out;
  EXPECT_LT(test::max_abs_diff(rollout, torch::tensor(expected).view({kT, kT})), 1e-6);
}

// T = 7: <cls> and a 2x3 grid. Row 0 puts most of its mass on <cls> and the key of patch
// (row 1, column 2) = patch 1 * 3 + 2 = 5, key 6.
TEST(ImageAttention, PatchGridOrientationAndNormalisation) {
  constexpr int64_t kGridH = 2, kGridW = 3, kT = 1 + kGridH * kGridW;
  auto w = torch::full({kT, kT}, 0.02);
  w[0][0] = 0.5;  // <cls>: left out
  w[0][6] = 0.4;
  const auto grid = patch_grid(w, /*row=*/0, kGridH, kGridW);
  ASSERT_EQ(grid.sizes(), (std::vector<int64_t>{kGridH, kGridW}));
  EXPECT_EQ(grid.argmax().item<int64_t>(), 1 * kGridW + 2);
  EXPECT_NEAR(grid.sum().item<double>(), 1.0, 1e-6);
  // 0.4 and five times 0.02 over the patches: 0.5 in all.
  EXPECT_NEAR(grid[1][2].item<double>(), 0.4 / 0.5, 1e-6);
  EXPECT_NEAR(grid[0][0].item<double>(), 0.02 / 0.5, 1e-6);
  // Another query row: patch (0, 1) = key 2. Needed: (1, 2) is the last patch, which a
  // row/column mix-up (reshape to (grid_w, grid_h), then transpose) leaves in place; (0, 1) moves.
  w[3][2] = 1.0;
  EXPECT_EQ(patch_grid(w, /*row=*/3, kGridH, kGridW).argmax().item<int64_t>(), 0 * kGridW + 1);
}

TEST(ImageAttention, MeanAttentionDistanceHandValues) {
  // 2x2 grid, patch_size 4. Head 0: the identity (every patch looks at itself): 0. Head 1: every
  // patch attends to patch 0 (key 1) and to <cls>, which is left out; <cls>'s own row is ignored.
  // Distances to patch 0: 0, 4, 4, 4 sqrt(2).
  constexpr int64_t kT = 5;
  auto w = torch::zeros({2, kT, kT});
  w[0] = torch::eye(kT);
  w[1].select(1, 0).fill_(0.5);
  w[1].select(1, 1).fill_(0.5);
  w[1][0] = torch::full({kT}, 0.2);
  const auto d = mean_attention_distance(w, 2, 2, /*patch_size=*/4);
  ASSERT_EQ(d.sizes(), (std::vector<int64_t>{2}));
  EXPECT_EQ(d.scalar_type(), at::kDouble);
  EXPECT_NEAR(d[0].item<double>(), 0.0, 1e-12);
  EXPECT_NEAR(d[1].item<double>(), (0 + 4 + 4 + 4 * std::sqrt(2.0)) / 4, 1e-12);

  // 1x3 grid, patch_size 2, uniform over all 4 keys (1/3 each over the patches): distances
  // 0, 2, 4 from the ends and 2, 0, 2 from the middle: (2 + 4/3 + 2) / 3 = 16/9.
  EXPECT_NEAR(mean_attention_distance(torch::full({1, 4, 4}, 0.25), 1, 3, 2)[0].item<double>(),
              16.0 / 9.0, 1e-12);

  // 2x3 grid, patch_size 1, every patch attends to patch 2 = (row 0, column 2): distances
  // 2, 1, 0 on row 0 and sqrt(5), sqrt(2), 1 on row 1. The grids above cannot tell rows from
  // columns (2x2 is symmetric, 1x3 has one row); this one can.
  auto to_patch2 = torch::zeros({1, 7, 7});
  to_patch2[0].select(1, 3).fill_(1.0);
  EXPECT_NEAR(mean_attention_distance(to_patch2, 2, 3, 1)[0].item<double>(),
              (2 + 1 + 0 + std::sqrt(5.0) + std::sqrt(2.0) + 1) / 6, 1e-12);
}

// A black 8x8 grey image, a 2x2 grid whose only positive cell is (1, 0): scale 1 gives the
// bottom-left 4x4 block heat_color(1) blended over black, the rest heat_color(0).
TEST(ImageAttention, OverlayColoursTheHotPatch) {
  const auto image = torch::zeros({1, 8, 8}, torch::kUInt8);
  auto grid = torch::zeros({2, 2});
  grid[1][0] = 0.25;  // the maximum: scaled to 1
  const auto rgb = overlay_rgb(image, grid, /*scale=*/1);
  ASSERT_EQ(rgb.size(), 8u * 8u * 3u);
  const Rgb hot = heat_color(1.0), cold = heat_color(0.0);
  const std::vector<uint8_t> hot_px = {blended(0, hot.r), blended(0, hot.g), blended(0, hot.b)};
  const std::vector<uint8_t> cold_px = {blended(0, cold.r), blended(0, cold.g), blended(0, cold.b)};
  // By hand: .55 * (253, 231, 37) and .55 * (68, 1, 84), rounded.
  EXPECT_EQ(hot_px, (std::vector<uint8_t>{139, 127, 20}));
  EXPECT_EQ(cold_px, (std::vector<uint8_t>{37, 1, 46}));
  for (int64_t y = 0; y < 8; ++y)
    for (int64_t x = 0; x < 8; ++x) {
      const auto p = static_cast<size_t>((y * 8 + x) * 3);
      const std::vector<uint8_t> px(rgb.begin() + static_cast<std::ptrdiff_t>(p),
                                    rgb.begin() + static_cast<std::ptrdiff_t>(p + 3));
      EXPECT_EQ(px, (y >= 4 && x < 4) ? hot_px : cold_px) << "pixel x=" << x << " y=" << y;
    }
}

// An RGB 2x4 image, a 1x2 grid, scale 3: every pixel is its source pixel blended with its
// cell's colour, channel by channel; a grey image shows the same grey in all three channels.
TEST(ImageAttention, OverlayUpsamplesRgbAndGrey) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const auto image = at::randint(0, 256, {3, 2, 4}, gen).to(torch::kUInt8);
  const auto grid = torch::tensor({0.5, 1.0}).view({1, 2});
  const auto rgb = overlay_rgb(image, grid, /*scale=*/3);
  ASSERT_EQ(rgb.size(), 6u * 12u * 3u);
  const Rgb cells[2] = {heat_color(0.5), heat_color(1.0)};
  for (int64_t y = 0; y < 6; ++y)
    for (int64_t x = 0; x < 12; ++x) {
      const Rgb heat = cells[x / 6];  // each cell is 2 image pixels = 6 output pixels wide
      const uint8_t heat_c[3] = {heat.r, heat.g, heat.b};
      for (int64_t c = 0; c < 3; ++c)
        ASSERT_EQ(rgb[static_cast<size_t>((y * 12 + x) * 3 + c)],
                  blended(image[c][y / 3][x / 3].item<uint8_t>(), heat_c[c]))
            << "x=" << x << " y=" << y << " c=" << c;
    }

  const auto grey = overlay_rgb(torch::full({1, 2, 4}, 200, torch::kUInt8), grid, 1);
  const Rgb hot = heat_color(1.0);
  EXPECT_EQ(std::vector<uint8_t>(grey.end() - 3, grey.end()),
            (std::vector<uint8_t>{blended(200, hot.r), blended(200, hot.g), blended(200, hot.b)}));
}

TEST(ImageAttention, PngDecodesToOverlay) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const auto image = at::randint(0, 256, {3, 6, 9}, gen).to(torch::kUInt8);
  const auto grid = at::rand({2, 3}, gen);
  const auto png = render_overlay_png(image, grid, /*scale=*/2);
  const auto decoded = decode_png(png, "overlay");
  EXPECT_EQ(decoded.width, 18);
  EXPECT_EQ(decoded.height, 12);
  EXPECT_EQ(decoded.channels, 3);
  EXPECT_EQ(decoded.pixels, overlay_rgb(image, grid, 2));
}

TEST(ImageAttention, SvgHasImagePatchesAndTitles) {
  // A 4x6 grey image, 2x3 grid (2x2-pixel patches), scale 2: 12x8 pixels under a title band.
  auto image = torch::zeros({1, 4, 6}, torch::kUInt8);
  image[0][3][5] = 255;
  const auto grid = torch::tensor({0.1, 0.0, 0.2, 0.3, 0.25, 0.15}).view({2, 3});
  const auto svg = render_overlay_svg(image, grid, /*scale=*/2, "layer 3 <cls>");
  EXPECT_EQ(count_of(svg, "<rect "), 6u);
  expect_contains(svg, "<title>row 1, column 2: 0.150</title>");
  expect_contains(svg, "<title>row 0, column 1: 0.000</title>");
  expect_contains(svg, "<title>layer 3 &lt;cls&gt;</title>");
  expect_contains(svg, "fill=\"#fde725\" fill-opacity=\"0.55\"><title>row 1, column 0");  // the max
  expect_contains(svg, "data:image/png;base64,");

  if (!test::python_has("base64")) GTEST_SKIP() << "no /usr/bin/python3";
  ScratchDir dir;
  test::write_text(dir.file("o.svg"), svg);
  // The embedded image must be the scaled grey image, byte for byte as encode_png writes it.
  std::vector<uint8_t> scaled(8 * 12 * 3, 0);
  for (int64_t y = 6; y < 8; ++y)
    for (int64_t x = 10; x < 12; ++x)
      for (int64_t c = 0; c < 3; ++c) scaled[static_cast<size_t>((y * 12 + x) * 3 + c)] = 255;
  test::write_text(dir.file("expected.png"), encode_png(12, 8, scaled));
  const auto result = test::run_python(dir, R"PY(
import base64, binascii, xml.etree.ElementTree as ET
ns = {"s": "http://www.w3.org/2000/svg"}
xlink = "{http://www.w3.org/1999/xlink}href"
root = ET.parse(")PY" + dir.file("o.svg") + R"PY(").getroot()
print(root.get("width"), root.get("height"), root.find("s:title", ns).text)
img = root.find("s:image", ns)
print(img.get("x"), img.get("y"), img.get("width"), img.get("height"))
href = img.get(xlink)
prefix = "data:image/png;base64,"
assert href.startswith(prefix)
png = base64.b64decode(href[len(prefix):], validate=True)
print(png == open(")PY" + dir.file("expected.png") +
                                                R"PY(", "rb").read())
rects = root.findall("s:g[@id='patches']/s:rect", ns)
print(len(rects), [(r.get("x"), r.get("y"), r.get("width"), r.get("height")) for r in rects[4:6]])
print(rects[5].find("s:title", ns).text)
)PY");
  ASSERT_EQ(result.rc, 0) << result.out;
  // Title band 28 px; width = max(12, 16 + 13 * 9).
  EXPECT_EQ(result.out,
            "133 36 layer 3 <cls>\n"
            "0 28 12 8\n"
            "True\n"
            "6 [('4', '32', '4', '4'), ('8', '32', '4', '4')]\n"
            "row 1, column 2: 0.150\n");
}

TEST(ImageAttention, InputChecks) {
  const auto w = torch::full({2, 5, 5}, 0.2);  // H = 2, T = 5 = 1 + 2 * 2
  expect_contains(error_message([] { attention_rollout({}); }), "attention_rollout: no layers");
  expect_contains(error_message([] {
                    attention_rollout({torch::ones({5, 5})});
                  }),
                  "layer 0 must be (H, T, T), got (5, 5)");
  expect_contains(error_message([&] {
                    attention_rollout({w, torch::ones({2, 4, 4})});
                  }),
                  "layer 1 must be (H, 5, 5) like layer 0, got (2, 4, 4)");
  expect_contains(error_message([&] { attention_rollout({w.to(torch::kLong)}); }),
                  "floating point");

  expect_contains(error_message([&] { patch_grid(w[0], 0, 2, 3); }),
                  "patch_grid: weights (5, 5) do not fit a 2x3 grid: expected T = 1 + 2 * 3 = 7");
  expect_contains(error_message([&] { patch_grid(w[0], 5, 2, 2); }),
                  "patch_grid: row 5 outside [0, 5)");
  expect_contains(error_message([&] { patch_grid(w, 0, 2, 2); }),
                  "patch_grid: weights must be (T, T), got (2, 5, 5)");
  auto cls_only = torch::zeros({5, 5});
  cls_only[0][0] = 1.0;
  expect_contains(error_message([&] { patch_grid(cls_only, 0, 2, 2); }),
                  "row 0 puts no positive weight");

  expect_contains(error_message([&] { mean_attention_distance(w[0], 2, 2, 4); }),
                  "mean_attention_distance: weights must be (H, T, T), got (5, 5)");
  expect_contains(error_message([&] { mean_attention_distance(w, 1, 3, 4); }),
                  "do not fit a 1x3 grid");
  expect_contains(error_message([&] { mean_attention_distance(w, 2, 2, 0); }),
                  "patch_size 0 must be >= 1");

  const auto image = torch::zeros({1, 8, 8}, torch::kUInt8);
  const auto grid = torch::ones({2, 2});
  expect_contains(error_message([&] {
                    overlay_rgb(torch::zeros({2, 8, 8}, torch::kUInt8), grid, 1);
                  }),
                  "overlay_rgb: image must be (C, H, W) with C = 1 or 3, got (2, 8, 8)");
  expect_contains(error_message([&] {
                    overlay_rgb(torch::zeros({1, 8, 8}), grid, 1);
                  }),
                  "overlay_rgb: image must be uint8");
  expect_contains(error_message([&] {
                    overlay_rgb(image, torch::ones({3, 2}), 1);
                  }),
                  "overlay_rgb: a 3x2 grid does not divide a 8x8 image");
  expect_contains(error_message([&] { overlay_rgb(image, torch::ones({4}), 1); }),
                  "grid must be a non-empty (grid_h, grid_w) matrix, got (4)");
  expect_contains(error_message([&] {
                    overlay_rgb(image, torch::zeros({2, 2}), 1);
                  }),
                  "grid must be non-negative with a positive maximum");
  expect_contains(error_message([&] { overlay_rgb(image, grid, 0); }),
                  "overlay_rgb: scale 0 must be >= 1");
  expect_contains(error_message([&] { render_overlay_svg(image, -grid, 1, "t"); }),
                  "render_overlay_svg: grid must be non-negative");
}

}  // namespace
}  // namespace attnlab
