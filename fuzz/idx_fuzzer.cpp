// libFuzzer harness for the IDX reader (data/idx.h): the bytes are written to a file and read
// with read_idx, as the image dataset opens MNIST files, gzipped or plain. Allowed outcomes: an
// array, or a DataError naming the file. Checked on every array: 1 to 4 dimensions, each > 0,
// whose product is the data size. And read_idx agrees with parse_idx on the same bytes after
// decompression (plain input as is, one whole gzip member inflated here): the same array, or
// the same message.
#include <zlib.h>

#include <cstdint>
#include <string>

#include "data/idx.h"
#include "fuzz_file.h"

namespace {

// The input inflated as exactly one gzip member (nothing after it), or false. Inputs hold at
// most 4 KiB (max_len), so at most ~4 MiB come out; the cap is only a guard.
bool gunzip_one_member(const uint8_t* data, size_t size, std::string& out) {
  constexpr size_t kMaxOut = size_t{16} << 20;
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return false;  // 16: gzip wrapper only
  z.next_in = const_cast<Bytef*>(data);
  z.avail_in = static_cast<uInt>(size);
  int ret = Z_OK;
  char buffer[16384];
  while (ret == Z_OK && out.size() <= kMaxOut) {
    z.next_out = reinterpret_cast<Bytef*>(buffer);
    z.avail_out = sizeof(buffer);
    ret = inflate(&z, Z_NO_FLUSH);
    out.append(buffer, sizeof(buffer) - z.avail_out);
  }
  const bool whole = ret == Z_STREAM_END && z.avail_in == 0;
  inflateEnd(&z);
  return whole;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace attnlab;
  const auto& path = fuzz::write_input(data, size, "data.idx");
  IdxArray array;
  std::string error;
  try {
    array = read_idx(path);
    if (array.dims.empty() || array.dims.size() > 4) fuzz::fail("dimensions not 1 to 4", path);
    uint64_t product = 1;
    for (const int64_t d : array.dims) {
      if (d <= 0) fuzz::fail("dimension <= 0 accepted", std::to_string(d));
      product *= static_cast<uint64_t>(d);
    }
    if (product != array.data.size())
      fuzz::fail("dims do not match the data",
                 std::to_string(product) + " != " + std::to_string(array.data.size()));
  } catch (const DataError& e) {
    error = e.what();
    if (error.rfind(path + ": ", 0) != 0) fuzz::fail("error does not name the file", error);
  }

  // gzopen reads a file as gzip when it starts with 1f 8b, else as it is.
  std::string bytes;
  if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
    if (!gunzip_one_member(data, size, bytes)) return 0;  // corrupt, or several members: no twin
  } else {
    bytes.assign(reinterpret_cast<const char*>(data), size);
  }
  try {
    const IdxArray again = parse_idx(bytes, path);
    if (!error.empty()) fuzz::fail("read_idx threw, parse_idx did not", error);
    if (again.dims != array.dims || again.data != array.data)
      fuzz::fail("read_idx and parse_idx differ", path);
  } catch (const DataError& e) {
    if (e.what() != error) fuzz::fail("read_idx and parse_idx disagree", error + " | " + e.what());
  }
  return 0;
}
