#pragma once
// The Vision Transformer's input (Dosovitskiy et al., 2020): an image cut into P x P patches,
// each flattened and projected to d_model (a Conv2d of stride P, written as a Linear), a
// learned <cls> vector in front, plus learned or 2-D sinusoidal positions, plus dropout.

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

#include "config/enums.h"
#include "model/linear.h"

namespace attnlab {

struct PatchEmbeddingOptions {
  int64_t channels = 1;                                // 1 (grey) or 3 (RGB)
  int64_t height = 28;                                 // image height in pixels
  int64_t width = 28;                                  // image width in pixels
  int64_t patch_size = 4;                              // P; divides height and width
  int64_t d_model = 128;                               // embedding width
  PositionKind positions = PositionKind::kSinusoidal;  // learned | 2-D sinusoidal
  double dropout = 0.0;                                // after the sum; 0 disables

  int64_t grid_height() const { return height / patch_size; }
  int64_t grid_width() const { return width / patch_size; }
  int64_t num_patches() const { return grid_height() * grid_width(); }
};

// 2-D sinusoidal table (grid_h * grid_w, d_model), rows in raster order: the first d_model / 2
// channels encode the patch's row and the rest its column, each with the 1-D table of
// sinusoidal_positions (model/embedding.h), as MAE (He et al., 2021) does.
torch::Tensor sinusoidal_positions_2d(int64_t grid_h, int64_t grid_w, int64_t d_model);

// (B, C, H, W) -> (B, N, C * P * P): patch n = row * grid_w + column, each flattened in
// (channel, y, x) order, the order of a Conv2d weight (d_model, C, P, P).
torch::Tensor image_patches(const torch::Tensor& images, int64_t patch_size);

// Parameters: proj.{weight (C_model, C*P*P), bias}, cls (1, 1, C_model), position (N + 1,
// C_model) when learned. Buffers: pixel_mean and pixel_std (C), the training split's per-channel
// statistics of pixel / 255 (set by the trainer, saved in every checkpoint), and position_table
// (N + 1, C_model) when sinusoidal (the <cls> row is zero).
class PatchEmbeddingImpl : public torch::nn::Module {
 public:
  explicit PatchEmbeddingImpl(const PatchEmbeddingOptions& options);
  // images: (B, C, H, W) uint8 pixels -> (B, 1 + N, C_model), <cls> first.
  torch::Tensor forward(const torch::Tensor& images);
  // Stores the normalisation statistics (C values each; std > 0).
  void set_pixel_statistics(const torch::Tensor& mean, const torch::Tensor& std);

  PatchEmbeddingOptions options;
  Linear proj{nullptr};
  torch::Tensor cls;
  torch::Tensor position;        // learned positions only
  torch::Tensor position_table;  // sinusoidal positions only
  torch::Tensor pixel_mean;
  torch::Tensor pixel_std;
};
TORCH_MODULE(PatchEmbedding);

}  // namespace attnlab
