#include "io/torch_file.h"

#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <torch/csrc/jit/serialization/unpickler.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <tuple>
#include <type_traits>

#include "io/crc32.h"
#include "io/pickle_scan.h"
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
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
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
  if (end == std::string::npos)
    fail(where, "truncated or corrupted (no zip end-of-directory record)");
  uint64_t entries = le(b, end + 10, 2), dir_size = le(b, end + 12, 4),
           dir_offset = le(b, end + 16, 4);
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
    const uint64_t flags = le(b, pos + 8, 2), method = le(b, pos + 10, 2), crc = le(b, pos + 16, 4),
                   size = le(b, pos + 20, 4), raw_size = le(b, pos + 24, 4),
                   attributes = le(b, pos + 38, 4), local = le(b, pos + 42, 4);
    const size_t name_len = le(b, pos + 28, 2), extra_len = le(b, pos + 30, 2),
                 comment_len = le(b, pos + 32, 2);
    if (pos + kCentralSize + name_len > dir_end)
      fail(where, "corrupted (zip entry name outside the directory)");
    const std::string name(b.data() + pos + kCentralSize, name_len);
    // The zip reader takes an entry whose MS-DOS attributes say "directory" (0x10) as empty and
    // LibTorch then reads a storage it never filled: no entry of a checkpoint is a directory.
    if ((attributes & 0x10) != 0 || ends_with(name, "/"))
      fail(where, "corrupted (zip entry '" + name + "' is marked as a directory)");
    pos += kCentralSize + name_len + extra_len + comment_len;
    if (size == kFar || raw_size == kFar || local == kFar) continue;  // in a ZIP64 extra field
    if (local + kLocalSize > n || le(b, local, 4) != kLocalSig)
      fail(where, "corrupted (bad zip header of '" + name + "')");
    // The local header repeats the directory's fields (without a data descriptor, flag bit 3):
    // the reader trusts one or the other, so they must agree.
    const bool descriptor = (flags & 0x8) != 0;
    if (le(b, local + 6, 2) != flags || le(b, local + 8, 2) != method ||
        (!descriptor && (le(b, local + 14, 4) != crc || le(b, local + 18, 4) != size ||
                         le(b, local + 22, 4) != raw_size)) ||
        le(b, local + 26, 2) != name_len ||
        (local + kLocalSize + name_len <= n &&
         std::string(b.data() + local + kLocalSize, name_len) != name))
      fail(where,
           "corrupted (the zip header of '" + name + "' disagrees with its directory entry)");
    const uint64_t data = local + kLocalSize + le(b, local + 26, 2) + le(b, local + 28, 2);
    if (data > n || size > n - data)
      fail(where, "truncated ('" + name + "' runs past the end of the file)");
    if (method != 0) continue;  // compressed: checked by the reader while it inflates
    if (size != raw_size) fail(where, "corrupted (sizes of '" + name + "' disagree)");
    if (crc32(b.data() + data, size) != crc)
      fail(where, "corrupted (CRC-32 mismatch in '" + name + "')");
    if (ends_with(name, "/data.pkl")) pickle.assign(b.data() + data, size);
  }
  return pickle;
}

std::string type_name(const c10::IValue& v) { return v.tagKind(); }

std::string shape_of(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t d = 0; d < t.dim(); ++d) s += (d ? ", " : "") + std::to_string(t.size(d));
  return s + "]";
}

// a * b, or `cap` if that is more (no overflow for a, b <= cap).
uint64_t capped_product(uint64_t a, uint64_t b, uint64_t cap) {
  if (a == 0 || b == 0) return 0;
  return a > cap / b ? cap : std::min(a * b, cap);
}

// LibTorch's unpickler takes a storage's size from the pickle and its bytes from the zip entry,
// and a tensor's shape, strides and offset from the pickle, checking none against the others:
// a corrupted file yields tensors that read past their memory, or a 4-byte storage viewed as a
// billion elements that a later .contiguous() would allocate. Each tensor must lie inside its
// storage, the storage inside the bytes read for it, and a tensor may hold no more elements
// than its storage (torch.save keeps an expanded view's stride 0; attnlab never writes one).
void check_tensor(const at::Tensor& t, const std::map<const void*, size_t>& record_bytes,
                  const std::string& where) {
  if (t.layout() != at::kStrided) fail(where, "not supported (a tensor that is not dense)");
  const std::string what = "a tensor of shape " + shape_of(t);
  const auto& storage = t.storage();
  const auto found = record_bytes.find(storage.data());
  const size_t stored = found == record_bytes.end() ? 0 : found->second;
  const size_t storage_bytes = storage.nbytes();
  if (storage_bytes > stored)
    fail(where, "corrupted (" + what + " has a storage of " + std::to_string(storage_bytes) +
                    " bytes, the file holds " + std::to_string(stored) + " for it)");
  const auto capacity =
      static_cast<uint64_t>(storage_bytes / static_cast<size_t>(t.element_size()));
  const uint64_t cap = capacity + 1;  // anything at or above it is too many
  uint64_t elements = 1;              // the tensor's element count, capped
  uint64_t reach = 0;                 // storage index of its last element, less the offset, capped
  for (int64_t d = 0; d < t.dim(); ++d) {
    const int64_t size = t.size(d), stride = t.stride(d);
    if (size < 0 || stride < 0)
      fail(where, "corrupted (" + what + " has a negative size or stride)");
    if (size == 0) return;  // no elements: nothing is read
    elements = capped_product(elements, static_cast<uint64_t>(size), cap);
    reach = std::min(cap, reach + capped_product(static_cast<uint64_t>(size - 1),
                                                 static_cast<uint64_t>(stride), cap));
  }
  const int64_t offset = t.storage_offset();
  if (offset < 0 || static_cast<uint64_t>(offset) >= capacity ||
      reach >= capacity - static_cast<uint64_t>(offset))
    fail(where, "corrupted (" + what + " at storage offset " + std::to_string(offset) +
                    " reaches past its storage of " + std::to_string(capacity) + " elements)");
  if (elements > capacity)
    fail(where, "not supported (" + what + " holds more elements than its storage of " +
                    std::to_string(capacity) + ": an expanded view?)");
}

// Every tensor in `value`, walked with an explicit stack (a deeply nested pickle is no reason
// to run out of call stack).
void check_tensors(const c10::IValue& value, const std::map<const void*, size_t>& record_bytes,
                   const std::string& where) {
  std::vector<c10::IValue> pending{value};
  std::set<const void*> seen;  // containers already walked: a pickle can make a list hold itself
  while (!pending.empty()) {
    const c10::IValue v = std::move(pending.back());
    pending.pop_back();
    if (v.isPtrType() && !v.isTensor() && !seen.insert(v.internalToPointer()).second) continue;
    if (v.isTensor()) {
      check_tensor(v.toTensor(), record_bytes, where);
    } else if (v.isList()) {
      for (const auto& item : v.toListRef()) pending.push_back(item);
    } else if (v.isTuple()) {
      for (const auto& item : v.toTupleRef().elements()) pending.push_back(item);
    } else if (v.isGenericDict()) {
      for (const auto& item : v.toGenericDict()) {
        pending.push_back(item.key());
        pending.push_back(item.value());
      }
    } else if (v.isObject()) {
      for (const auto& slot : v.toObjectRef().slots()) pending.push_back(slot);
    }
  }
}

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
  // What torch::pickle_load does (torch::jit::readArchiveAndTensors), with a reader that stays
  // inside the buffer, a scan of the pickle before it runs, and a note of each storage record's
  // size, so that the tensors can be checked against what the file holds.
  std::map<const void*, size_t> record_bytes;  // storage data pointer -> bytes read for it
  c10::IValue value;
  try {
    caffe2::serialize::PyTorchStreamReader reader(std::make_shared<BoundedReader>(file.bytes));
    at::DataPtr pickle;
    size_t pickle_size = 0;
    std::tie(pickle, pickle_size) = reader.getRecord("data.pkl");
    const char* pickle_bytes = static_cast<const char*>(pickle.get());
    try {
      scan_pickle(pickle_bytes, pickle_size);
    } catch (const PickleScanError& e) {
      fail(file.path, std::string("corrupted pickle (data.pkl ") + e.what() + ")");
    }
    size_t pickle_read = 0;
    auto read_pickle = [&](char* buffer, size_t n) -> size_t {
      n = std::min(n, pickle_size - pickle_read);
      if (n > 0) std::memcpy(buffer, pickle_bytes + pickle_read, n);
      pickle_read += n;
      return n;
    };
    auto read_record = [&](const std::string& key) {
      at::DataPtr data;
      size_t bytes = 0;
      std::tie(data, bytes) = reader.getRecord("data/" + key);
      record_bytes[data.get()] = bytes;
      return data;
    };
    torch::jit::Unpickler unpickler(read_pickle, /*type_resolver=*/nullptr, /*obj_loader=*/nullptr,
                                    read_record, /*device=*/c10::nullopt);
    unpickler.set_version(reader.version());
    value = unpickler.parse_ivalue();
    check_tensors(value, record_bytes, file.path);
  } catch (const TorchFileError&) {
    throw;
  } catch (const std::exception& e) {
    fail(file.path, "cannot unpickle (truncated or corrupted?): " + first_line(e.what()));
  }
  return value;
}

std::vector<c10::IValue> list_items(const c10::IValue& value, const std::string& key,
                                    const std::string& where) {
  if (!value.isList())
    fail(where, "key '" + key + "' is a " + type_name(value) + ", expected a list");
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
template std::vector<std::string> list_of(const c10::IValue&, const std::string&,
                                          const std::string&);

PickleDict::PickleDict(const c10::IValue& value, std::string where, const std::string& what)
    : dict_(c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get())),
      where_(std::move(where)) {
  if (!value.isGenericDict())
    fail("not " + what + " (holds a " + type_name(value) + ", not a dict)");
  dict_ = value.toGenericDict();
}

void PickleDict::fail(const std::string& what) const { attnlab::fail(where_, what); }

bool PickleDict::has(const std::string& key) const {
  return dict_.find(c10::IValue(key)) != dict_.end();
}

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
