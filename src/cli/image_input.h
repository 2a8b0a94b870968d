#pragma once
// The images `predict` and `attn` take from the command line: PNG files, or images of the
// checkpoint's splits by number.

#include <ATen/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "train/trained_model.h"

namespace attnlab::cli {

// One PNG as the model's (C, H, W) uint8 input: grey and RGB convert into each other (luma
// 0.299 R + 0.587 G + 0.114 B, or the grey value three times). Throws DataError for an
// unreadable or corrupt file, UsageError when its size is not the model's (shape = (C, H, W)).
at::Tensor png_input(const std::string& path, const std::vector<int64_t>& shape);

// "3,17,42" -> {3, 17, 42}; UsageError naming `option` otherwise.
std::vector<int64_t> parse_indices(const std::string& text, const std::string& option);

// Images `indices` of the checkpoint's split `split` (test, valid or train, as training saw
// them), with their names ("file#index (label)"). UsageError for an unknown or absent split or
// an index past its end.
struct SplitImages {
  std::vector<at::Tensor> images;  // each (C, H, W) uint8
  std::vector<std::string> names;
};
SplitImages split_images(const TrainedModel& trained, const std::string& split,
                         const std::vector<int64_t>& indices, const std::string& option);

}  // namespace attnlab::cli
