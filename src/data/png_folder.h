#pragma once
// Image classification data as a folder of PNG files plus a TSV of `file<TAB>label` lines.

#include <string>

#include "data/image_set.h"
#include "data/tsv.h"  // DataError

namespace attnlab {

// Reads the labels TSV with read_tsv (its rules and errors) and decodes each file it names
// with read_png (io/png.h: 8-bit grey or RGB, alpha dropped). File names are relative to
// `folder`; an absolute name or one with a ".." component is refused. Every image must have
// the first one's width, height and channel count. Returns pixels (N, C, H, W) uint8 in TSV
// order, the labels as written and names = the file names as written. Throws DataError
// "<tsv>:<line>: ..." naming the TSV line of a refused, unreadable, corrupt or mismatched image.
ImageSet read_png_folder(const std::string& folder, const std::string& labels_tsv);

}  // namespace attnlab
