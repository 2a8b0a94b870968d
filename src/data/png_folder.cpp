#include "data/png_folder.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "io/png.h"

namespace attnlab {
namespace {

// "28x28 grey" / "32x32 RGB".
std::string describe(const DecodedImage& image) {
  return std::to_string(image.width) + "x" + std::to_string(image.height) +
         (image.channels == 1 ? " grey" : " RGB");
}

}  // namespace

ImageSet read_png_folder(const std::string& folder, const std::string& labels_tsv) {
  const std::vector<Example> examples = read_tsv(labels_tsv);  // source = file, target = label
  const auto N = static_cast<int64_t>(examples.size());
  ImageSet set;
  DecodedImage first;  // the first image's shape (its pixels are released)
  for (int64_t i = 0; i < N; ++i) {
    const Example& example = examples[i];
    const std::string where = labels_tsv + ":" + std::to_string(example.line) + ": ";
    const std::filesystem::path file(example.source);
    if (file.has_root_path() ||
        std::any_of(file.begin(), file.end(), [](const auto& part) { return part == ".."; })) {
      throw DataError(where + example.source +
                      ": file names must be relative to the folder, without '..'");
    }
    DecodedImage image;
    try {
      image = read_png((std::filesystem::path(folder) / file).string());
    } catch (const std::runtime_error& e) {
      throw DataError(where + e.what());
    }
    const int64_t C = image.channels, H = image.height, W = image.width;
    if (i == 0) {
      // The folder's images in one tensor: at most 1 GiB, as for IDX files.
      constexpr int64_t kMaxBytes = int64_t{1} << 30;
      if (C * H * W > kMaxBytes / N)
        throw DataError(labels_tsv + ": " + std::to_string(N) + " images of " + describe(image) +
                        " are over the 1 GiB limit for one split");
      first = DecodedImage{W, H, C, {}};
      set.pixels = torch::empty({N, C, H, W}, torch::kByte);
    } else if (W != first.width || H != first.height || C != first.channels) {
      throw DataError(where + example.source + " is " + describe(image) + ", the first image (" +
                      examples[0].source + ") is " + describe(first));
    }
    const auto hwc = torch::from_blob(image.pixels.data(), {H, W, C}, torch::kByte);  // (H, W, C)
    set.pixels[i].copy_(hwc.permute({2, 0, 1}));                                      // (C, H, W)
    set.labels.push_back(example.target);
    set.names.push_back(example.source);
  }
  return set;
}

}  // namespace attnlab
