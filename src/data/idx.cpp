#include "data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>

namespace attnlab {
namespace {

constexpr uint64_t kMaxDataBytes = uint64_t{1} << 30;  // one array may hold at most 1 GiB
constexpr size_t kChunk = size_t{1} << 20;             // bytes read per call

// Fills out[0, n) from the input; returns fewer than n bytes only at its end. Throws DataError.
using ReadFn = std::function<size_t(uint8_t* out, size_t n)>;

DataError file_error(const std::string& path, const std::string& what) {
  return DataError(path + ": " + what);
}

const char* type_name(int type) {
  switch (type) {
    case 0x08:
      return "unsigned byte";
    case 0x09:
      return "signed byte";
    case 0x0B:
      return "int16";
    case 0x0C:
      return "int32";
    case 0x0D:
      return "float";
    case 0x0E:
      return "double";
    default:
      return "unknown";
  }
}

std::string hex_byte(int byte) {
  static const char* digits = "0123456789ABCDEF";
  return std::string("0x") + digits[(byte >> 4) & 15] + digits[byte & 15];
}

// The header and data of one IDX stream, read in chunks so that no allocation trusts the header
// beyond the 1 GiB cap; then whatever follows the data is counted and rejected.
IdxArray parse_stream(const ReadFn& read, const std::string& path) {
  uint8_t magic[4];
  const size_t got_magic = read(magic, 4);
  if (got_magic < 4) {
    throw file_error(path, "truncated: an IDX file starts with a 4-byte magic number, found " +
                               std::to_string(got_magic) + " bytes");
  }
  if (magic[0] != 0 || magic[1] != 0) {
    throw file_error(path, "magic number starts " + hex_byte(magic[0]) + " " + hex_byte(magic[1]) +
                               ", not two zero bytes: not an IDX file (or a damaged one)");
  }
  if (magic[2] != 0x08) {
    throw file_error(path, "element type " + hex_byte(magic[2]) + " (" + type_name(magic[2]) +
                               ") is not supported; attnlab reads unsigned bytes (0x08)");
  }
  const int ndims = magic[3];
  if (ndims < 1 || ndims > 4) {
    throw file_error(path,
                     std::to_string(ndims) + " dimensions; attnlab reads IDX arrays of 1 to 4");
  }

  uint8_t raw_dims[16];
  const size_t dims_bytes = 4 * static_cast<size_t>(ndims);
  const size_t got_dims = read(raw_dims, dims_bytes);
  if (got_dims < dims_bytes) {
    throw file_error(path, "truncated: header says " + std::to_string(ndims) + " dimensions (" +
                               std::to_string(dims_bytes) + " bytes), found " +
                               std::to_string(got_dims));
  }
  IdxArray array;
  std::string shape;  // "10000 x 28 x 28", for messages
  uint64_t total = 1;
  for (int i = 0; i < ndims; ++i) {
    const uint8_t* b = raw_dims + 4 * i;
    const uint32_t dim = uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | b[3];
    if (dim == 0) {
      throw file_error(
          path, "dimension " + std::to_string(i + 1) + " of " + std::to_string(ndims) + " is 0");
    }
    array.dims.push_back(dim);
    shape += (i ? " x " : "") + std::to_string(dim);
    // total <= 2^30 before each product, dim < 2^32: no overflow; the check waits for all dims.
    if (total <= kMaxDataBytes) total *= dim;
  }
  if (total > kMaxDataBytes) {
    throw file_error(path, "dimensions " + shape + " are over the 1 GiB limit for one array");
  }

  auto& data = array.data;
  size_t have = 0;
  while (have < total) {
    data.resize(std::min<uint64_t>(total, have + kChunk));
    const size_t want = data.size() - have;
    const size_t got = read(data.data() + have, want);
    have += got;
    if (got < want) {
      throw file_error(path, "truncated: header says " + std::to_string(total) +
                                 " bytes of data (" + shape + "), found " + std::to_string(have));
    }
  }
  uint64_t extra = 0;
  std::vector<uint8_t> scratch(4096);
  // Counted up to 1 MiB only: a small header over gigabytes of gzipped zeros fails at once.
  constexpr uint64_t kCountLimit = 1 << 20;
  for (size_t got; extra <= kCountLimit && (got = read(scratch.data(), scratch.size())) > 0;)
    extra += got;
  if (extra > kCountLimit)
    throw file_error(
        path, "more than " + std::to_string(kCountLimit) + " bytes after the data (" + shape + ")");
  if (extra > 0)
    throw file_error(path, std::to_string(extra) + " bytes after the data (" + shape + ")");
  return array;
}

}  // namespace

IdxArray parse_idx(const std::string& bytes, const std::string& path) {
  size_t pos = 0;
  const ReadFn read = [&](uint8_t* out, size_t n) {
    n = std::min(n, bytes.size() - pos);
    std::memcpy(out, bytes.data() + pos, n);
    pos += n;
    return n;
  };
  return parse_stream(read, path);
}

IdxArray read_idx(const std::string& path) {
  // gzopen reads plain files as they are: it looks for the gzip magic, not at the name.
  const std::unique_ptr<gzFile_s, int (*)(gzFile)> file(gzopen(path.c_str(), "rb"), &gzclose);
  if (!file) {
    const int err = errno;
    throw file_error(path, "cannot open file (" + std::string(std::strerror(err)) + ")");
  }
  gzbuffer(file.get(), 1 << 17);
  const ReadFn read = [&](uint8_t* out, size_t n) {
    size_t have = 0;
    while (have < n) {
      const int got =
          gzread(file.get(), out + have, static_cast<unsigned>(std::min(n - have, kChunk)));
      const int err = errno;
      // A truncated gzip member sets Z_BUF_ERROR yet gzread returns the bytes it had (not -1):
      // only gzerror tells a cut-off stream from the end of the file.
      int errnum = Z_OK;
      const char* msg = gzerror(file.get(), &errnum);
      if (errnum == Z_ERRNO || (errnum == Z_OK && got < 0)) {
        throw file_error(path, "read error (" + std::string(std::strerror(err)) + ")");
      }
      if (errnum != Z_OK) {
        std::string what = msg;  // zlib writes "path: what"
        if (what.rfind(path + ": ", 0) == 0) what.erase(0, path.size() + 2);
        throw file_error(path, "corrupt or truncated gzip stream (" + what + ")");
      }
      if (got == 0) break;
      have += static_cast<size_t>(got);
    }
    return have;
  };
  return parse_stream(read, path);
}

}  // namespace attnlab
