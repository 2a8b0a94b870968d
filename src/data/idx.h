#pragma once
// IDX files, the format of MNIST and Fashion-MNIST: a magic number (two zero bytes, the element
// type, the number of dimensions), each dimension as a big-endian uint32, then the elements,
// row-major. attnlab reads unsigned bytes (type 0x08), plain or gzipped.

#include <cstdint>
#include <string>
#include <vector>

#include "data/tsv.h"  // DataError

namespace attnlab {

// An IDX array: its dimensions (1 to 4, outermost first, each > 0) and its bytes, row-major.
struct IdxArray {
  std::vector<int64_t> dims;  // e.g. {10000, 28, 28} for images, {10000} for labels
  std::vector<uint8_t> data;  // product(dims) bytes
};

// Reads an IDX file of unsigned bytes, gzipped (told by the gzip magic 1f 8b, not the name) or
// plain. Throws DataError, message "path: ...", for a file that cannot be opened or read, a
// corrupt or truncated gzip stream, a magic number not starting with two zero bytes, an element
// type other than 0x08, 0 or more than 4 dimensions, a dimension of 0, more than 1 GiB of data,
// fewer bytes than the header says, and bytes after the data.
IdxArray read_idx(const std::string& path);

// The same rules on bytes already decompressed; `path` only names them in errors.
IdxArray parse_idx(const std::string& bytes, const std::string& path);

}  // namespace attnlab
