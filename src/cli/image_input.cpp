#include "cli/image_input.h"

#include <ATen/ATen.h>

#include <optional>
#include <sstream>
#include <stdexcept>

#include "cli/commands.h"
#include "data/tsv.h"
#include "io/png.h"

namespace attnlab::cli {

at::Tensor png_input(const std::string& path, const std::vector<int64_t>& shape) {
  DecodedImage image;
  try {
    image = read_png(path);
  } catch (const std::runtime_error& e) {
    throw DataError(e.what());  // bad input: exit 2
  }
  if (image.height != shape[1] || image.width != shape[2])
    throw UsageError(path + ": the image is " + std::to_string(image.width) + "x" +
                     std::to_string(image.height) + " pixels (width x height), the model takes " +
                     std::to_string(shape[2]) + "x" + std::to_string(shape[1]) +
                     "; resize it first");
  auto hwc = at::from_blob(image.pixels.data(), {image.height, image.width, image.channels},
                           at::kByte);             // (H, W, C), borrowed
  auto chw = hwc.permute({2, 0, 1}).contiguous();  // (C, H, W), owned
  if (image.channels == shape[0]) return chw;
  if (shape[0] == 1) {
    auto rgb = chw.to(at::kFloat);
    return (rgb[0] * 0.299 + rgb[1] * 0.587 + rgb[2] * 0.114)
        .round()
        .clamp(0, 255)
        .to(at::kByte)
        .unsqueeze(0);  // (1, H, W)
  }
  return chw.expand({3, image.height, image.width}).contiguous();  // (3, H, W)
}

std::vector<int64_t> parse_indices(const std::string& text, const std::string& option) {
  std::vector<int64_t> out;
  std::stringstream stream(text);
  for (std::string part; std::getline(stream, part, ',');) {
    size_t used = 0;
    long long value = -1;
    try {
      value = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (part.empty() || used != part.size() || value < 0)
      throw UsageError(option + " takes image numbers separated by commas (3,17,42), got '" + text +
                       "'");
    out.push_back(value);
  }
  if (out.empty()) throw UsageError(option + " needs at least one image number");
  return out;
}

SplitImages split_images(const TrainedModel& trained, const std::string& split,
                         const std::vector<int64_t>& indices, const std::string& option) {
  if (split != "test" && split != "valid" && split != "train")
    throw UsageError("--split must be test, valid or train, got '" + split + "'");
  std::optional<Dataset> loaded;
  try {
    loaded.emplace(load_config_split(trained.config, trained.vocabs, split));
  } catch (const std::invalid_argument& e) {
    throw UsageError(option + ": " + e.what());
  }
  const Dataset& data = *loaded;
  SplitImages picked;
  for (const int64_t i : indices) {
    if (i >= data.size())
      throw UsageError(option + " " + std::to_string(i) + " is past the " +
                       std::to_string(data.size()) + " images of " + data.path());
    picked.images.push_back(data.images()[i]);
    picked.names.push_back(data.example(i).source + " (" + data.example(i).target + ")");
  }
  return picked;
}

}  // namespace attnlab::cli
