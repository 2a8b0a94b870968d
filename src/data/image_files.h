#pragma once
// An image split on disk, whichever its format: IDX images with their IDX labels (MNIST,
// Fashion-MNIST), or a folder of PNG files with a labels TSV (data/png_folder.h).

#include <ATen/Tensor.h>

#include <string>
#include <utility>
#include <vector>

#include "config/enums.h"
#include "data/image_set.h"

namespace attnlab {

// Where the labels of `images` are when no *_labels key names them: IDX, the images file's name
// with "images-idx3" replaced by "labels-idx1" (train-images-idx3-ubyte.gz ->
// train-labels-idx1-ubyte.gz); PNG, <folder>/labels.tsv. Throws DataError for an IDX name
// without "images-idx3" (then the config must name the labels file).
std::string default_labels_path(const std::string& images, DataFormat format);

// IDX images (N, H, W) or (N, C, H, W) and labels (N): every label must be < classes.size()
// when classes are given (its name is then classes[label]), else its decimal digits. Throws
// DataError naming the file for a count mismatch, a label out of range, or an IDX error.
ImageSet read_idx_images(const std::string& images, const std::string& labels,
                         const std::vector<std::string>& classes);

// The split at `path` in `format` (idx or png); `labels` "" = default_labels_path.
ImageSet read_image_split(DataFormat format, const std::string& path, std::string labels,
                          const std::vector<std::string>& classes);

// Per-channel mean and standard deviation of pixel / 255 over all images (N, C, H, W) uint8,
// in double then returned as (C) float tensors; a channel of one value gets std 1.
std::pair<at::Tensor, at::Tensor> pixel_statistics(const at::Tensor& pixels);

// Splits off the last `count` images (the validation share): returns them; `set` keeps the rest.
// Throws DataError when count leaves no training image.
ImageSet take_last(ImageSet& set, int64_t count, const std::string& path);

}  // namespace attnlab
