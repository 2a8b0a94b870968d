#include "data/image_files.h"

#include <ATen/ATen.h>

#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "data/idx.h"
#include "data/png_folder.h"
#include "data/tsv.h"

namespace attnlab {

std::string default_labels_path(const std::string& images, DataFormat format) {
  if (format == DataFormat::kPng) return (std::filesystem::path(images) / "labels.tsv").string();
  const std::string from = "images-idx3", to = "labels-idx1";
  const auto slash = images.find_last_of('/');
  const auto at = images.find(from, slash == std::string::npos ? 0 : slash + 1);
  if (at == std::string::npos)
    throw DataError(images + ": cannot tell where its labels are (the name has no '" + from +
                    "'); name the labels file with data.image.train_labels, valid_labels or "
                    "test_labels, or eval --labels");
  return images.substr(0, at) + to + images.substr(at + from.size());
}

ImageSet read_idx_images(const std::string& images, const std::string& labels,
                         const std::vector<std::string>& classes) {
  IdxArray pixels = read_idx(images);
  const IdxArray ids = read_idx(labels);
  const auto& d = pixels.dims;
  if (d.size() != 3 && d.size() != 4)
    throw DataError(images +
                    ": images must have 3 dimensions (count, height, width) or 4 "
                    "(count, channels, height, width), found " +
                    std::to_string(d.size()));
  if (d.size() == 4 && d[1] != 1 && d[1] != 3)
    throw DataError(images + ": images must have 1 or 3 channels, found " + std::to_string(d[1]));
  if (ids.dims.size() != 1)
    throw DataError(labels + ": labels must have 1 dimension, found " +
                    std::to_string(ids.dims.size()));
  if (ids.dims[0] != d[0])
    throw DataError(labels + ": " + std::to_string(ids.dims[0]) + " labels for the " +
                    std::to_string(d[0]) + " images of " + images);
  const int64_t n = d[0], c = d.size() == 4 ? d[1] : 1, h = d[d.size() - 2], w = d.back();
  ImageSet set;
  set.pixels = at::empty({n, c, h, w}, at::kByte);  // (N, C, H, W)
  std::memcpy(set.pixels.data_ptr<uint8_t>(), pixels.data.data(), pixels.data.size());
  pixels.data = {};
  const std::string base = std::filesystem::path(images).filename().string();
  set.labels.reserve(static_cast<size_t>(n));
  set.names.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = ids.data[static_cast<size_t>(i)];
    if (!classes.empty() && label >= static_cast<int64_t>(classes.size()))
      throw DataError(labels + ": label " + std::to_string(label) + " of image " +
                      std::to_string(i) + " is out of range for the " +
                      std::to_string(classes.size()) + " names of data.image.classes");
    set.labels.push_back(classes.empty() ? std::to_string(label)
                                         : classes[static_cast<size_t>(label)]);
    set.names.push_back(base + "#" + std::to_string(i));
  }
  return set;
}

ImageSet read_image_split(DataFormat format, const std::string& path, std::string labels,
                          const std::vector<std::string>& classes) {
  if (labels.empty()) labels = default_labels_path(path, format);
  if (format == DataFormat::kIdx) return read_idx_images(path, labels, classes);
  if (format == DataFormat::kPng) return read_png_folder(path, labels);
  throw DataError(path + ": data.format=tsv is text, not images");
}

std::pair<at::Tensor, at::Tensor> pixel_statistics(const at::Tensor& pixels) {
  TORCH_CHECK(pixels.dim() == 4 && pixels.scalar_type() == at::kByte && pixels.size(0) > 0,
              "pixel_statistics: pixels must be non-empty (N, C, H, W) uint8, got ",
              pixels.sizes());
  const auto N = pixels.size(0), C = pixels.size(1), HW = pixels.size(2) * pixels.size(3);
  auto contiguous = pixels.contiguous();
  const uint8_t* data = contiguous.data_ptr<uint8_t>();
  auto mean = at::empty({C}, at::kFloat), std = at::empty({C}, at::kFloat);
  for (int64_t c = 0; c < C; ++c) {
    // A histogram of the 256 values: exact, and no copy of the pixels in double.
    std::array<int64_t, 256> count{};
    for (int64_t n = 0; n < N; ++n) {
      const uint8_t* plane = data + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) ++count[plane[i]];
    }
    double sum = 0, total = 0;
    for (int v = 0; v < 256; ++v) {
      sum += static_cast<double>(count[v]) * v / 255.0;
      total += static_cast<double>(count[v]);
    }
    const double m = sum / total;
    double squares = 0;
    for (int v = 0; v < 256; ++v)
      squares += static_cast<double>(count[v]) * std::pow(v / 255.0 - m, 2);
    const double s = std::sqrt(squares / total);
    mean[c] = m;
    std[c] = s > 0 ? s : 1.0;
  }
  return {mean, std};
}

ImageSet take_last(ImageSet& set, int64_t count, const std::string& path) {
  const int64_t n = set.size();
  if (count >= n)
    throw DataError(path + ": data.image.holdout=" + std::to_string(count) +
                    " leaves none of its " + std::to_string(n) + " images to train on");
  ImageSet tail;
  tail.pixels = set.pixels.slice(0, n - count).clone();
  set.pixels = set.pixels.slice(0, 0, n - count).clone();
  tail.labels.assign(set.labels.begin() + (n - count), set.labels.end());
  tail.names.assign(set.names.begin() + (n - count), set.names.end());
  set.labels.resize(static_cast<size_t>(n - count));
  set.names.resize(static_cast<size_t>(n - count));
  return tail;
}

}  // namespace attnlab
