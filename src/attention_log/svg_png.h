#pragma once
// One attention heatmap as a standalone image: SVG (labelled, with hover titles) or PNG (our
// own minimal encoder: 8-bit RGB, stored deflate blocks, no dependencies). Colours are
// heat_color's (heatmap.h), so every view of a matrix agrees.

#include <ATen/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace attnlab {

// weights: (Tq, Tk). Rows = queries (labels on the left), columns = keys (labels on top,
// vertical), a colour bar on the right; each cell has a <title> "query → key: weight".
std::string render_svg(const at::Tensor& weights, const std::vector<std::string>& query_tokens,
                       const std::vector<std::string>& key_tokens, const std::string& title);

struct PngOptions {
  int64_t cell_size = 16;  // pixels per cell side
};

// Writes the (Tq, Tk) heatmap as a (Tq * cell) x (Tk * cell) pixel PNG, without labels. Cell
// (i, j) is filled with heat_color(weights[i][j]). Throws std::runtime_error naming the file.
void write_png(const std::string& path, const at::Tensor& weights, const PngOptions& options = {});

// The PNG file bytes of an 8-bit RGB image; rgb holds height rows of width * 3 bytes.
std::string encode_png(int64_t width, int64_t height, const std::vector<uint8_t>& rgb);

// Adler-32 checksum (as zlib streams end with).
uint32_t adler32(const uint8_t* data, size_t size);

}  // namespace attnlab
