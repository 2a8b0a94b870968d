#include "io/torch_file.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <type_traits>

#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <torch/csrc/jit/serialization/import_read.h>

#include "io/crc32.h"
#include "io/text.h"

namespace attnlab {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw TorchFileError(where + ": " + what);
}

// An in-memory zip source that never reads past the end of its buffer (a short read makes
// miniz report an error).
class BoundedReader : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BoundedReader(const std::vector<char>& bytes) : bytes_(bytes) {}
  size_t size() const override { return bytes_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= bytes_.size()) return 0;
    n = std::min<size_t>(n, bytes_.size() - static_cast<size_t>(pos));
    std::memcpy(buf, bytes_.data() + pos, n);
    return n;
  }

 private:
  const std::vector<char>& bytes_;
};

// Little-endian unsigned integer of `width` bytes at `at` (the caller keeps it in range).
uint64_t le(const std::vector<char>& b, size_t at, int width) {
  uint64_t v = 0;
  for (int i = width - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
  return v;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Checks the zip structure and the CRC-32 of every stored entry; returns the data.pkl bytes.
std::string check_zip(const std::vector<char>& b, const std::string& where) {
  constexpr uint64_t kEndSig = 0x06054b50, kLocatorSig = 0x07064b50, kEnd64Sig = 0x06064b50,
                     kCentralSig = 0x02014b50, kLocalSig = 0x04034b50, kFar = 0xFFFFFFFF;
  constexpr size_t kEndSize = 22, kLocatorSize = 20, kEnd64Size = 56, kCentralSize = 46,
                   kLocalSize = 30;
  const size_t n = b.size();
  if (n < kEndSize) fail(where, "truncated (too short for a zip archive)");
  // The end record is the last 22 bytes, or earlier by an archive comment of up to 64 KiB.
  size_t end = std::string::npos;
  const size_t lowest = n > kEndSize + 65535 ? n - kEndSize - 65535 : 0;
  for (size_t pos = n - kEndSize + 1; pos-- > lowest;)
    if (le(b, pos, 4) == kEndSig) {
      end = pos;
      break;
    }
  if (end == std::string::npos) fail(where, "truncated or corrupted (no zip end-of-directory record)");
  uint64_t entries = le(b, end + 10, 2), dir_size = le(b, end + 12, 4), dir_offset = le(b, end + 16, 4);
  size_t directory_end = end;
  if (entries == 0xFFFF || dir_size == kFar || dir_offset == kFar) {  // ZIP64
    if (end < kLocatorSize || le(b, end - kLocatorSize, 4) != kLocatorSig)
      fail(where, "truncated or corrupted (no zip64 locator)");
    const uint64_t record = le(b, end - kLocatorSize + 8, 8);
    if (record > end - kLocatorSize || end - kLocatorSize - record < kEnd64Size ||
        le(b, record, 4) != kEnd64Sig)
      fail(where, "truncated or corrupted (bad zip64 end record)");
    entries = le(b, record + 32, 8);
    dir_size = le(b, record + 40, 8);
    dir_offset = le(b, record + 48, 8);
    directory_end = static_cast<size_t>(record);
  }
  if (dir_offset > directory_end || dir_size > directory_end - dir_offset)
    fail(where, "truncated or corrupted (zip directory outside the file)");
  std::string pickle;
  size_t pos = static_cast<size_t>(dir_offset);
  const size_t dir_end = static_cast<size_t>(dir_offset + dir_size);
  for (uint64_t e = 0; e < entries; ++e) {
    if (pos + kCentralSize > dir_end || le(b, pos, 4) != kCentralSig)
      fail(where, "corrupted (bad zip directory entry " + std::to_string(e) + ")");
    const uint64_t method = le(b, pos + 10, 2), crc = le(b, pos + 16, 4), size = le(b, pos + 20, 4),
                   raw_size = le(b, pos + 24, 4), local = le(b, pos + 42, 4);
    const size_t name_len = le(b, pos + 28, 2), extra_len = le(b, pos + 30, 2),
                 comment_len = le(b, pos + 32, 2);
    if (pos + kCentralSize + name_len > dir_end)
      fail(where, "corrupted (zip entry name outside the directory)");
    const std::string name(b.data() + pos + kCentralSize, name_len);
    pos += kCentralSize + name_len + extra_len + comment_len;
    if (size == kFar || raw_size == kFar || local == kFar) continue;  // in a ZIP64 extra field
    if (local + kLocalSize > n || le(b, local, 4) != kLocalSig)
      fail(where, "corrupted (bad zip header of '" + name + "')");
    const uint64_t data = local + kLocalSize + le(b, local + 26, 2) + le(b, local + 28, 2);
    if (data > n || size > n - data) fail(where, "truncated ('" + name + "' runs past the end of the file)");
    if (method != 0) continue;  // compressed: checked by the reader while it inflates
    if (size != raw_size) fail(where, "corrupted (sizes of '" + name + "' disagree)");
    if (crc32(b.data() + data, size) != crc) fail(where, "corrupted (CRC-32 mismatch in '" + name + "')");
    if (ends_with(name, "/data.pkl")) pickle.assign(b.data() + data, size);
  }
  return pickle;
}

std::string type_name(const c10::IValue& v) { return v.tagKind(); }

}  // namespace

TorchFile read_torch_file(const std::string& path, const std::string& kind) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail(path, "no such file");
  if (fs::is_directory(path, ec)) fail(path, "is a directory, not " + kind);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, std::string("cannot open: ") + std::strerror(errno));
  TorchFile file;
  file.path = path;
  file.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) fail(path, "read error");
  if (file.bytes.empty()) fail(path, "empty file");
  if (file.bytes.size() < 4 || file.bytes[0] != 'P' || file.bytes[1] != 'K')
    fail(path, "not a torch pickle (no zip header); truncated, or not " + kind + "?");
  file.pickle = check_zip(file.bytes, path);
  return file;
}

c10::IValue unpickle(const TorchFile& file) {
  try {
    // What torch::pickle_load does, with a reader that stays inside the buffer.
    caffe2::serialize::PyTorchStreamReader reader(std::make_shared<BoundedReader>(file.bytes));
    return torch::jit::readArchiveAndTensors("data", /*pickle_prefix=*/"", /*tensor_prefix=*/"",
                                             c10::nullopt, c10::nullopt, c10::nullopt, reader);
  } catch (const std::exception& e) {
    fail(file.path, "cannot unpickle (truncated or corrupted?): " + first_line(e.what()));
  }
}

std::vector<c10::IValue> list_items(const c10::IValue& value, const std::string& key,
                                    const std::string& where) {
  if (!value.isList()) fail(where, "key '" + key + "' is a " + type_name(value) + ", expected a list");
  const auto list = value.toList();
  std::vector<c10::IValue> items;
  items.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) items.push_back(list.get(i));
  return items;
}

template <typename T>
std::vector<T> list_of(const c10::IValue& value, const std::string& key, const std::string& where) {
  constexpr bool is_int = std::is_same_v<T, int64_t>;
  std::vector<T> out;
  const auto items = list_items(value, key, where);
  for (size_t i = 0; i < items.size(); ++i) {
    if (is_int ? !items[i].isInt() : !items[i].isString())
      fail(where, "key '" + key + "'[" + std::to_string(i) + "] is a " + type_name(items[i]) +
                      (is_int ? ", expected an int" : ", expected a str"));
    if constexpr (is_int)
      out.push_back(items[i].toInt());
    else
      out.push_back(items[i].toStringRef());
  }
  return out;
}

template std::vector<int64_t> list_of(const c10::IValue&, const std::string&, const std::string&);
template std::vector<std::string> list_of(const c10::IValue&, const std::string&, const std::string&);

PickleDict::PickleDict(const c10::IValue& value, std::string where, const std::string& what)
    : dict_(c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get())),
      where_(std::move(where)) {
  if (!value.isGenericDict()) fail("not " + what + " (holds a " + type_name(value) + ", not a dict)");
  dict_ = value.toGenericDict();
}

void PickleDict::fail(const std::string& what) const { attnlab::fail(where_, what); }

bool PickleDict::has(const std::string& key) const { return dict_.find(c10::IValue(key)) != dict_.end(); }

const c10::IValue& PickleDict::at(const std::string& key) const {
  const auto it = dict_.find(c10::IValue(key));
  if (it == dict_.end()) fail("missing key '" + key + "'");
  return it->value();
}

int64_t PickleDict::integer(const std::string& key) const {
  const auto& v = at(key);
  if (!v.isInt()) fail("key '" + key + "' is a " + type_name(v) + ", expected an int");
  return v.toInt();
}

double PickleDict::number(const std::string& key) const {
  const auto& v = at(key);
  if (v.isDouble()) return v.toDouble();
  if (v.isInt()) return static_cast<double>(v.toInt());
  fail("key '" + key + "' is a " + type_name(v) + ", expected a float");
}

std::string PickleDict::string(const std::string& key) const {
  const auto& v = at(key);
  if (!v.isString()) fail("key '" + key + "' is a " + type_name(v) + ", expected a str");
  return v.toStringRef();
}

at::Tensor PickleDict::tensor(const std::string& key) const {
  const auto& v = at(key);
  if (!v.isTensor()) fail("key '" + key + "' is a " + type_name(v) + ", expected a tensor");
  return v.toTensor();
}

std::vector<c10::IValue> PickleDict::list(const std::string& key) const {
  return list_items(at(key), key, where_);
}

std::vector<int64_t> PickleDict::integers(const std::string& key) const {
  return list_of<int64_t>(at(key), key, where_);
}

std::vector<std::string> PickleDict::strings(const std::string& key) const {
  return list_of<std::string>(at(key), key, where_);
}

std::map<std::string, at::Tensor> PickleDict::tensors(const std::string& key) const {
  const auto& v = at(key);
  if (!v.isGenericDict()) fail("key '" + key + "' is a " + type_name(v) + ", expected a dict");
  std::map<std::string, at::Tensor> out;
  for (const auto& item : v.toGenericDict()) {
    if (!item.key().isString() || !item.value().isTensor())
      fail("key '" + key + "' must map names to tensors");
    out[item.key().toStringRef()] = item.value().toTensor();
  }
  return out;
}

PickleDict PickleDict::dict(const std::string& key) const {
  const auto& v = at(key);
  if (!v.isGenericDict()) fail("key '" + key + "' is a " + type_name(v) + ", expected a dict");
  return PickleDict(v, where_, "a dict");
}

}  // namespace attnlab
