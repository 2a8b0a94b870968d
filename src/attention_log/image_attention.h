#pragma once
// Where a Vision Transformer looks in its image: attention rollout over layers, one query's
// attention as the image's patch grid, the mean attention distance of each head in pixels, and
// the grid drawn over the image (RGB bytes, PNG, SVG).
//
// Tokens are those of PatchEmbedding (model/patch_embedding.h): position 0 is <cls>, then the
// patches in raster order, so patch n (token 1 + n) is grid row n / grid_w, column n % grid_w.

#include <ATen/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace attnlab {

// Opacity of the heat colour over the image in every overlay (RGB, PNG and SVG alike).
constexpr double kOverlayAlpha = 0.55;

// Attention rollout (Abnar & Zuidema, 2020): per layer, heads averaged, plus the identity for
// the residual, rows renormalised to sum to 1; the product over layers, first layer rightmost:
// R = A_L ... A_2 A_1. layers: one (H, T, T) tensor per layer (floating point; H may differ
// between layers, T may not). Computed in double; returns (T, T) float on the layers' device.
at::Tensor attention_rollout(const std::vector<at::Tensor>& layers);

// The attention of query row `row` (0 = <cls>) over the patches, as the image's grid:
// weights (T, T) with T = 1 + grid_h * grid_w -> (grid_h, grid_w), in weights' dtype. The
// <cls> column is left out and the remaining weights renormalised to sum to 1, so the grid is
// a distribution over the patches; cell [r][c] is patch r * grid_w + c (key 1 + r * grid_w + c).
// A row with no positive weight on the patches is an error.
at::Tensor patch_grid(const at::Tensor& weights, int64_t row, int64_t grid_h, int64_t grid_w);

// Mean attention distance per head, in pixels, as in the ViT paper's Figure 7 (Dosovitskiy et
// al., 2020): for every patch query i, sum over patch keys j of w_ij * |centre_i - centre_j|
// (Euclidean, in pixels: patch centres patch_size apart), with the <cls> query and key left out
// and each row renormalised over the patch keys; averaged over the queries. weights (H, T, T)
// with T = 1 + grid_h * grid_w -> (H) double.
at::Tensor mean_attention_distance(const at::Tensor& weights, int64_t grid_h, int64_t grid_w,
                                   int64_t patch_size);

// The image with the grid's attention over it, as RGB bytes of (H * scale) x (W * scale), rows
// top to bottom (encode_png's layout). image (C, H, W) uint8 with C = 1 (shown as grey) or 3;
// grid (grid_h, grid_w) finite and non-negative with a positive maximum, H % grid_h == 0 and
// W % grid_w == 0; scale >= 1, at most 16384 pixels a side (kMaxPngSide). Every pixel is
// round((1 - kOverlayAlpha) * image + kOverlayAlpha * heat_color(v)) per channel with
// v = cell / max(grid), so the strongest cell is the hottest colour; image and grid are
// upsampled nearest (every pixel of a patch gets its cell's colour).
std::vector<uint8_t> overlay_rgb(const at::Tensor& image, const at::Tensor& grid, int64_t scale);

// The PNG file bytes of overlay_rgb (encode_png, svg_png.h).
std::string render_overlay_png(const at::Tensor& image, const at::Tensor& grid, int64_t scale);

// The same overlay as a standalone SVG: a title line on top, under it the scaled image (grey or
// RGB, no overlay) embedded as a data:image/png;base64 <image>, and one <rect> per patch in
// <g id="patches"> filled with the cell's heat colour at fill-opacity kOverlayAlpha, with a
// <title> "row r, column c: 0.123" (the cell's value). Width and height in pixels.
std::string render_overlay_svg(const at::Tensor& image, const at::Tensor& grid, int64_t scale,
                               const std::string& title);

}  // namespace attnlab
