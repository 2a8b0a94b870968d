#include "model/patch_embedding.h"

#include <ATen/ATen.h>
#include <torch/nn/init.h>

#include "kernels/dropout.h"
#include "model/embedding.h"

namespace attnlab {

torch::Tensor sinusoidal_positions_2d(int64_t grid_h, int64_t grid_w, int64_t d_model) {
  TORCH_CHECK(d_model % 2 == 0, "sinusoidal_positions_2d: d_model must be even, got ", d_model);
  const int64_t half = d_model / 2;
  auto rows = sinusoidal_positions(grid_h, half);                               // (Gh, C/2)
  auto cols = sinusoidal_positions(grid_w, half);                               // (Gw, C/2)
  auto row_part = rows.unsqueeze(1).expand({grid_h, grid_w, half});             // (Gh, Gw, C/2)
  auto col_part = cols.unsqueeze(0).expand({grid_h, grid_w, half});             // (Gh, Gw, C/2)
  return at::cat({row_part, col_part}, 2).reshape({grid_h * grid_w, d_model});  // (Gh*Gw, C)
}

torch::Tensor image_patches(const torch::Tensor& images, int64_t patch_size) {
  TORCH_CHECK(images.dim() == 4, "image_patches: images must be (B, C, H, W), got ",
              images.sizes());
  const auto B = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  const auto P = patch_size;
  TORCH_CHECK(P > 0 && H % P == 0 && W % P == 0, "image_patches: patch size ", P,
              " does not divide the image's ", H, "x", W);
  return images
      .view({B, C, H / P, P, W / P, P})             // (B, C, Gh, P, Gw, P)
      .permute({0, 2, 4, 1, 3, 5})                  // (B, Gh, Gw, C, P, P)
      .reshape({B, (H / P) * (W / P), C * P * P});  // (B, N, C*P*P)
}

PatchEmbeddingImpl::PatchEmbeddingImpl(const PatchEmbeddingOptions& options_) : options(options_) {
  const auto& o = options;
  TORCH_CHECK(o.channels > 0 && o.height > 0 && o.width > 0 && o.patch_size > 0 && o.d_model > 0,
              "PatchEmbedding: channels=", o.channels, ", height=", o.height, ", width=", o.width,
              ", patch_size=", o.patch_size, ", d_model=", o.d_model, " must all be positive");
  TORCH_CHECK(o.height % o.patch_size == 0 && o.width % o.patch_size == 0,
              "PatchEmbedding: patch_size=", o.patch_size, " does not divide the image's ",
              o.height, "x", o.width);
  const int64_t n = o.num_patches();
  proj = register_module("proj", Linear(o.channels * o.patch_size * o.patch_size, o.d_model));
  cls = register_parameter("cls", torch::zeros({1, 1, o.d_model}));
  torch::NoGradGuard no_grad;
  torch::nn::init::normal_(cls, 0.0, 0.02);
  if (o.positions == PositionKind::kLearned) {
    position = register_parameter("position", torch::empty({n + 1, o.d_model}));
    torch::nn::init::normal_(position, 0.0, 0.02);
  } else {
    auto table = torch::zeros({n + 1, o.d_model});  // (1 + N, C); <cls> row stays zero
    table.slice(0, 1).copy_(sinusoidal_positions_2d(o.grid_height(), o.grid_width(), o.d_model));
    position_table = register_buffer("position_table", table);
  }
  pixel_mean = register_buffer("pixel_mean", torch::zeros({o.channels}));
  pixel_std = register_buffer("pixel_std", torch::ones({o.channels}));
}

void PatchEmbeddingImpl::set_pixel_statistics(const torch::Tensor& mean, const torch::Tensor& std) {
  TORCH_CHECK(mean.numel() == options.channels && std.numel() == options.channels,
              "PatchEmbedding: statistics for ", options.channels, " channels expected, got ",
              mean.numel(), " and ", std.numel());
  TORCH_CHECK(std.gt(0).all().item<bool>(), "PatchEmbedding: pixel_std must be positive");
  torch::NoGradGuard no_grad;
  pixel_mean.copy_(mean.reshape({options.channels}));
  pixel_std.copy_(std.reshape({options.channels}));
}

torch::Tensor PatchEmbeddingImpl::forward(const torch::Tensor& images) {
  const auto& o = options;
  TORCH_CHECK(images.dim() == 4 && images.scalar_type() == at::kByte,
              "PatchEmbedding: images must be (B, C, H, W) uint8, got ", images.sizes(), " ",
              images.scalar_type());
  TORCH_CHECK(
      images.size(1) == o.channels && images.size(2) == o.height && images.size(3) == o.width,
      "PatchEmbedding: the model takes ", o.channels, "x", o.height, "x", o.width,
      " images (C x H x W), got ", images.sizes().slice(1));
  const auto B = images.size(0);
  auto x = images.to(at::kFloat).div_(255.0);  // (B, C, H, W) in [0, 1]
  x = (x - pixel_mean.view({1, o.channels, 1, 1})) / pixel_std.view({1, o.channels, 1, 1});
  auto patches = proj(image_patches(x, o.patch_size));  // (B, N, C_model)
  auto tokens = at::cat({cls.to(patches.scalar_type()).expand({B, 1, o.d_model}), patches},
                        1);  // (B, 1 + N, C_model)
  const auto& pos = o.positions == PositionKind::kLearned ? position : position_table;
  tokens = tokens + pos.unsqueeze(0);  // (B, 1 + N, C) + (1, 1 + N, C)
  return attnlab::dropout(tokens, o.dropout, is_training());
}

}  // namespace attnlab
