#include "attention_log/heatmap.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

namespace attnlab {
namespace {

TEST(Heatmap, ShadeThresholds) {
  EXPECT_EQ(shade_level(0.0), 0);
  EXPECT_EQ(shade_level(0.049), 0);
  EXPECT_EQ(shade_level(0.05), 1);
  EXPECT_EQ(shade_level(0.2499), 1);
  EXPECT_EQ(shade_level(0.25), 2);
  EXPECT_EQ(shade_level(0.5), 3);
  EXPECT_EQ(shade_level(0.75), 4);
  EXPECT_EQ(shade_level(1.0), 4);
  EXPECT_EQ(shade_level(std::nan("")), -1);
}

TEST(Heatmap, KnownThreeByThree) {
  const auto w = torch::tensor({0.9, 0.1, 0.0, 0.0, 0.6, 0.4, 0.2, 0.3, 0.5}).view({3, 3});
  const std::vector<std::string> tokens = {"the", "cat", "sat"};
  HeatmapStyle style;
  const std::string expected =
      "       0 1 2\n"
      "0 the │██░░  │ → 0 the 0.90\n"
      "1 cat │  ▓▓▒▒│ → 1 cat 0.60\n"
      "2 sat │░░▒▒▓▓│ → 2 sat 0.50\n"
      "shade: ' ' <0.05  ░ <0.25  ▒ <0.50  ▓ <0.75  █ >=0.75\n";
  EXPECT_EQ(render_heatmap(w, tokens, tokens, style), expected);
}

TEST(Heatmap, FullScaleStretchesASpreadOutGrid) {
  // A patch grid: no weight above 0.05, so every cell would be blank on the 0..1 scale.
  const auto w = torch::tensor({0.04, 0.01, 0.0, 0.02}).view({2, 2});
  HeatmapStyle style;
  style.full_scale = 0.04;  // the largest cell: 0.04 -> 1, 0.02 -> 0.5, 0.01 -> 0.25
  const std::string expected =
      "      0 1\n"
      "0 r0 │██░░│ → 0 c0 0.04\n"
      "1 r1 │  ▒▒│ → 1 c1 0.02\n"
      "keys: 0 c0 1 c1\n"
      "shade: ' ' <0.002  ░ <0.010  ▒ <0.020  ▓ <0.030  █ >=0.030 (scaled to the largest cell, "
      "0.040)\n";
  EXPECT_EQ(render_heatmap(w, {"r0", "r1"}, {"c0", "c1"}, style), expected);
  style.full_scale = 0.0;
  EXPECT_THROW(render_heatmap(w, {"r0", "r1"}, {"c0", "c1"}, style), c10::Error);
}

TEST(Heatmap, DistinctKeysGetALegendAndLabelsAreCut) {
  const auto w = torch::tensor({0.0, 1.0, 0.5, 0.5}).view({2, 2});
  HeatmapStyle style;
  style.cell_width = 1;
  style.show_argmax = false;
  style.max_label_width = 7;
  const std::string full =
      "           01\n"
      "0 bonjour │ █│\n"
      "1 ∅       │▓▓│\n"
      "keys: 0 hello! 1 a␣b\n"
      "shade: ' ' <0.05  ░ <0.25  ▒ <0.50  ▓ <0.75  █ >=0.75\n";
  EXPECT_EQ(render_heatmap(w, {"bonjour", ""}, {"hello!", "a b"}, style), full);
  style.max_label_width = 4;
  const std::string cut =
      "        01\n"
      "0 bon… │ █│\n"
      "1 ∅    │▓▓│\n"
      "keys: 0 hel… 1 a␣b\n"
      "shade: ' ' <0.05  ░ <0.25  ▒ <0.50  ▓ <0.75  █ >=0.75\n";
  EXPECT_EQ(render_heatmap(w, {"bonjour", ""}, {"hello!", "a b"}, style), cut);
}

TEST(Heatmap, ManyKeysGetVerticalIndices) {
  const auto w = torch::zeros({1, 12});
  HeatmapStyle style;
  style.cell_width = 1;
  style.show_argmax = false;
  const auto text = render_heatmap(w, {"q"}, std::vector<std::string>(12, "k"), style);
  const auto first = text.substr(0, text.find('\n'));
  const auto rest = text.substr(text.find('\n') + 1);
  const auto second = rest.substr(0, rest.find('\n'));
  EXPECT_EQ(first, "               11");  // tens digits, for 10 and 11 only
  EXPECT_EQ(second, "     012345678901");
}

TEST(Heatmap, ColourUsesAnsiBackgrounds) {
  const auto w = torch::tensor({1.0, 0.0}).view({1, 2});
  HeatmapStyle style;
  style.color = true;
  const auto text = render_heatmap(w, {"x"}, {"x", "y"}, style);
  // 1.0 falls in the top colour bucket, 0.0 in the bottom one.
  EXPECT_NE(text.find("\x1b[48;5;" + std::to_string(xterm_color(heat_color(15.5 / 16))) + "m  "),
            std::string::npos);
  EXPECT_NE(text.find("\x1b[48;5;" + std::to_string(xterm_color(heat_color(0.5 / 16))) + "m  "),
            std::string::npos);
  EXPECT_NE(text.find("\x1b[0m"), std::string::npos);
  EXPECT_EQ(text.find("█"), std::string::npos);
}

TEST(Heatmap, PaletteStopsAndXterm) {
  EXPECT_EQ(heat_color(0.0), (Rgb{68, 1, 84}));
  EXPECT_EQ(heat_color(0.5), (Rgb{33, 145, 140}));
  EXPECT_EQ(heat_color(1.0), (Rgb{253, 231, 37}));
  EXPECT_EQ(heat_color(2.0), (Rgb{253, 231, 37}));
  EXPECT_EQ(heat_color(-1.0), (Rgb{68, 1, 84}));
  EXPECT_EQ(heat_color(1.0 / 16), (Rgb{70, 23, 104}));  // halfway from #440154 to #472d7b
  EXPECT_EQ(heat_color(std::nan("")), (Rgb{128, 128, 128}));
  EXPECT_EQ(xterm_color({0, 0, 0}), 16);
  EXPECT_EQ(xterm_color({255, 255, 255}), 231);
  EXPECT_EQ(xterm_color({255, 0, 0}), 196);
}

TEST(Heatmap, Labels) {
  EXPECT_EQ(printable_token("a b\n\t"), "a␣b⏎⇥");
  EXPECT_EQ(printable_token(""), "∅");
  EXPECT_EQ(printable_token(std::string("x\xff", 2)), "x\xEF\xBF\xBD");
  EXPECT_EQ(utf8_length("né→"), 3);
  EXPECT_EQ(truncate_label("élégant", 4), "élé…");
  EXPECT_EQ(truncate_label("abc", 3), "abc");
  EXPECT_EQ(truncate_label("abcd", 1), "…");
}

}  // namespace
}  // namespace attnlab
