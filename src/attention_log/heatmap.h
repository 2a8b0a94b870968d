#pragma once
// Terminal heatmap of one attention matrix: rows = queries, columns = keys.
//
//          0 1 2
//   0 the │██░░  │ → 0 the 0.90
//   1 cat │  ▓▓▒▒│ → 1 cat 0.60
//   2 sat │░░▒▒▓▓│ → 2 sat 0.50
//   shade: ' ' <0.05  ░ <0.25  ▒ <0.50  ▓ <0.75  █ >=0.75
//
// Columns are numbered (indices written vertically when there are more than 10 keys); rows
// carry their index and token, so with self-attention column j is row j's token. When the key
// tokens differ from the query tokens a "keys:" legend lists them.

#include <ATen/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace attnlab {

struct HeatmapStyle {
  bool color = false;            // 256-colour ANSI backgrounds instead of shade characters
  int64_t max_label_width = 12;  // token labels longer than this are cut with '…'
  int64_t cell_width = 2;        // characters per cell
  bool show_argmax = true;       // after each row: the most-attended key and its weight
  // The weight drawn as the darkest shade / hottest colour: shades and colours are of
  // weight / full_scale, and the legend gives the thresholds in weights. 1 for attention rows;
  // the grid's maximum stretches a spread-out distribution (a patch grid) over the whole scale.
  double full_scale = 1.0;
};

// Shade level 0..4 of a weight: [0, .05) ' ', [.05, .25) '░', [.25, .5) '▒', [.5, .75) '▓',
// [.75, 1] '█'. NaN gives -1 (drawn as '?').
int shade_level(double weight);

// weights: (Tq, Tk) with Tq == query_tokens.size() and Tk == key_tokens.size().
std::string render_heatmap(const at::Tensor& weights, const std::vector<std::string>& query_tokens,
                           const std::vector<std::string>& key_tokens, const HeatmapStyle& style);

// An 8-bit RGB colour.
struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb& o) const { return r == o.r && g == o.g && b == o.b; }
};

// The colour scale every renderer shares (terminal, SVG, PNG, HTML): viridis, linearly
// interpolated between 9 stops from 0 = #440154 (dark purple) through 0.5 = #21918c (teal) to
// 1 = #fde725 (yellow). Weights are clamped to [0, 1]; NaN is grey #808080.
Rgb heat_color(double weight);

// The 9 stops of heat_color, at 0, 1/8, ..., 1.
const std::vector<Rgb>& heat_color_stops();

// Nearest colour of the xterm 256-colour 6x6x6 cube (indices 16..231).
int xterm_color(Rgb colour);

// A token made printable: whitespace and control characters become visible symbols (' ' ->
// '␣', '\n' -> '⏎', '\t' -> '⇥'), the empty token becomes '∅'.
std::string printable_token(const std::string& token);

// Number of code points in a UTF-8 string (our measure of display width).
int64_t utf8_length(const std::string& text);

// printable_token(token) cut to at most `width` code points, ending in '…' when cut.
std::string truncate_label(const std::string& token, int64_t width);

// Escapes & < > " ' for text and attribute values in the SVG and HTML renderers.
std::string xml_escape(const std::string& text);

// A weight as text with `decimals` decimals, "nan" for NaN (heatmap legends, SVG titles).
std::string format_weight(double w, int decimals);

}  // namespace attnlab
