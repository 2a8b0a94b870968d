#include "train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>
#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <torch/csrc/jit/serialization/import_read.h>
#include <torch/serialize.h>

namespace attnlab {
namespace {

namespace fs = std::filesystem;
using GenericDict = c10::impl::GenericDict;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw CheckpointError("checkpoint " + path + ": " + what);
}

GenericDict tensor_dict(const std::map<std::string, at::Tensor>& tensors) {
  GenericDict dict(c10::StringType::get(), c10::TensorType::get());
  for (const auto& [name, t] : tensors) dict.insert(name, t.detach().contiguous());
  return dict;
}

c10::List<std::string> string_list(const std::vector<std::string>& items) {
  c10::List<std::string> list;
  for (const auto& s : items) list.push_back(s);
  return list;
}

const c10::IValue& get(const GenericDict& dict, const std::string& key, const std::string& path) {
  auto it = dict.find(key);
  if (it == dict.end()) fail(path, "missing key '" + key + "'");
  return it->value();
}

int64_t get_int(const GenericDict& d, const std::string& key, const std::string& path) {
  const auto& v = get(d, key, path);
  if (!v.isInt()) fail(path, "key '" + key + "' is not an integer");
  return v.toInt();
}

double get_double(const GenericDict& d, const std::string& key, const std::string& path) {
  const auto& v = get(d, key, path);
  if (v.isDouble()) return v.toDouble();
  if (v.isInt()) return static_cast<double>(v.toInt());
  fail(path, "key '" + key + "' is not a number");
}

std::string get_string(const GenericDict& d, const std::string& key, const std::string& path) {
  const auto& v = get(d, key, path);
  if (!v.isString()) fail(path, "key '" + key + "' is not a string");
  return v.toStringRef();
}

std::vector<std::string> get_strings(const GenericDict& d, const std::string& key,
                                     const std::string& path) {
  const auto& v = get(d, key, path);
  if (!v.isList()) fail(path, "key '" + key + "' is not a list");
  std::vector<std::string> out;
  for (const auto& item : v.toListRef()) {
    if (!item.isString()) fail(path, "key '" + key + "' holds a non-string");
    out.push_back(item.toStringRef());
  }
  return out;
}

std::map<std::string, at::Tensor> get_tensors(const GenericDict& d, const std::string& key,
                                              const std::string& path) {
  const auto& v = get(d, key, path);
  if (!v.isGenericDict()) fail(path, "key '" + key + "' is not a dict");
  std::map<std::string, at::Tensor> out;
  for (const auto& item : v.toGenericDict()) {
    if (!item.key().isString() || !item.value().isTensor())
      fail(path, "key '" + key + "' must map names to tensors");
    out[item.key().toStringRef()] = item.value().toTensor();
  }
  return out;
}

// An in-memory zip source that never reads past the end. torch::pickle_load(vector)'s own
// reader in LibTorch 1.13 copies whatever miniz asks for, so a truncated or corrupted file
// made it read beyond the buffer (undefined behaviour; some truncated files even "loaded").
class BoundedReader : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BoundedReader(const std::vector<char>& bytes) : bytes_(bytes) {}
  size_t size() const override { return bytes_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= bytes_.size()) return 0;
    n = std::min<size_t>(n, bytes_.size() - static_cast<size_t>(pos));
    std::memcpy(buf, bytes_.data() + pos, n);
    return n;  // a short read makes miniz report an error
  }

 private:
  const std::vector<char>& bytes_;
};

uint32_t crc32(const char* data, size_t n) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ static_cast<uint8_t>(data[i])) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint64_t le(const std::vector<char>& b, size_t at, int width) {
  uint64_t v = 0;
  for (int i = width - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
  return v;
}

// Checks the zip structure and every stored entry's CRC-32, which LibTorch 1.13's reader skips
// (a flipped byte inside tensor data would otherwise load silently). torch.save archives have
// no archive comment and store entries uncompressed; entries whose sizes or offsets live in
// zip64 extra fields (over 4 GiB) are left to the reader.
void verify_zip(const std::vector<char>& b, const std::string& path) {
  constexpr size_t kEocd = 22, kCentral = 46, kLocal = 30;
  const size_t n = b.size();
  if (n < kEocd || le(b, n - kEocd, 4) != 0x06054b50)
    fail(path, "truncated or corrupted (no zip end-of-archive record)");
  uint64_t entries = le(b, n - kEocd + 10, 2);
  uint64_t dir_size = le(b, n - kEocd + 12, 4), dir_offset = le(b, n - kEocd + 16, 4);
  if (entries == 0xFFFF || dir_size == 0xFFFFFFFF || dir_offset == 0xFFFFFFFF) {
    const size_t locator = n - kEocd - 20;  // zip64 end-of-archive locator
    if (n < kEocd + 20 || le(b, locator, 4) != 0x07064b50)
      fail(path, "truncated or corrupted (no zip64 locator)");
    const uint64_t record = le(b, locator + 8, 8);
    if (record + 56 > locator || le(b, record, 4) != 0x06064b50)
      fail(path, "truncated or corrupted (bad zip64 record)");
    entries = le(b, record + 32, 8);
    dir_size = le(b, record + 40, 8);
    dir_offset = le(b, record + 48, 8);
  }
  if (dir_offset > n || dir_size > n - dir_offset)
    fail(path, "truncated or corrupted (zip directory out of range)");
  size_t at = dir_offset;
  for (uint64_t e = 0; e < entries; ++e) {
    if (at + kCentral > dir_offset + dir_size || le(b, at, 4) != 0x02014b50)
      fail(path, "corrupted (bad zip directory entry)");
    const auto method = le(b, at + 10, 2), crc = le(b, at + 16, 4);
    const auto size = le(b, at + 20, 4), local = le(b, at + 42, 4);
    const size_t name_len = le(b, at + 28, 2);
    const size_t next = at + kCentral + name_len + le(b, at + 30, 2) + le(b, at + 32, 2);
    const std::string name(b.data() + at + kCentral,
                           std::min(name_len, static_cast<size_t>(n - at - kCentral)));
    at = next;
    if (size == 0xFFFFFFFF || local == 0xFFFFFFFF || method != 0) continue;
    if (local + kLocal > n || le(b, local, 4) != 0x04034b50)
      fail(path, "corrupted (bad zip header of '" + name + "')");
    const uint64_t data = local + kLocal + le(b, local + 26, 2) + le(b, local + 28, 2);
    if (data > n || size > n - data) fail(path, "truncated (zip entry '" + name + "' cut short)");
    if (crc32(b.data() + data, size) != crc)
      fail(path, "corrupted (checksum mismatch in '" + name + "')");
  }
}

}  // namespace

void write_file_atomically(const std::string& path, const std::vector<char>& bytes) {
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string tmp = (dir / ("." + target.filename().string() + ".tmp." +
                                  std::to_string(::getpid())))
                              .string();
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create " + tmp + ": " + std::strerror(errno));
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(err));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot flush " + tmp + ": " + std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot rename " + tmp + " to " + path + ": " + std::strerror(err));
  }
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {  // make the rename itself durable
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

void save_checkpoint(const std::string& path, const Checkpoint& c) {
  GenericDict dict(c10::StringType::get(), c10::AnyType::get());
  dict.insert("format", std::string(kCheckpointFormat));
  dict.insert("version", kCheckpointVersion);
  dict.insert("config", c.config_yaml);
  dict.insert("model", tensor_dict(c.model));
  GenericDict optimizer(c10::StringType::get(), c10::AnyType::get());
  optimizer.insert("step", c.optimizer_step);
  optimizer.insert("exp_avg", tensor_dict(c.exp_avg));
  optimizer.insert("exp_avg_sq", tensor_dict(c.exp_avg_sq));
  dict.insert("optimizer", optimizer);
  dict.insert("step", c.step);
  dict.insert("epoch", c.epoch);
  dict.insert("batch_in_epoch", c.batch_in_epoch);
  dict.insert("rng_state", c.rng_state.defined() ? c.rng_state : at::empty({0}, at::kByte));
  dict.insert("best_metric", c.best_metric);
  dict.insert("best_step", c.best_step);
  dict.insert("evals_without_improvement", c.evals_without_improvement);
  dict.insert("tokens_seen", c.tokens_seen);
  dict.insert("elapsed_s", c.elapsed_s);
  dict.insert("src_vocab", string_list(c.src_vocab));
  dict.insert("tgt_vocab", string_list(c.tgt_vocab));
  dict.insert("labels", string_list(c.labels));
  try {
    write_file_atomically(path, torch::pickle_save(dict));
  } catch (const std::exception& e) {
    throw CheckpointError("cannot save checkpoint " + path + ": " + e.what());
  }
}

Checkpoint load_checkpoint(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail(path, "no such file");
  if (fs::is_directory(path, ec)) fail(path, "is a directory, not a checkpoint file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, std::string("cannot open: ") + std::strerror(errno));
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.empty()) fail(path, "file is empty");
  if (bytes.size() < 4 || bytes[0] != 'P' || bytes[1] != 'K')
    fail(path, "not an attnlab checkpoint (not a torch.save zip archive)");

  verify_zip(bytes, path);

  c10::IValue root;
  try {
    // What torch::pickle_load does, with a reader that stays inside the buffer.
    caffe2::serialize::PyTorchStreamReader reader(std::make_shared<BoundedReader>(bytes));
    root = torch::jit::readArchiveAndTensors("data", /*pickle_prefix=*/"", /*tensor_prefix=*/"",
                                             c10::nullopt, c10::nullopt, c10::nullopt, reader);
  } catch (const std::exception& e) {
    std::string reason = e.what();
    reason = reason.substr(0, reason.find('\n'));
    fail(path, "cannot be read (truncated or corrupted?): " + reason);
  }
  if (!root.isGenericDict()) fail(path, "not an attnlab checkpoint (top level is not a dict)");
  const auto dict = root.toGenericDict();
  auto format = dict.find("format");
  if (format == dict.end() || !format->value().isString() ||
      format->value().toStringRef() != kCheckpointFormat)
    fail(path, "not an attnlab checkpoint (no format='attnlab.checkpoint' key)");
  const int64_t version = get_int(dict, "version", path);
  if (version != kCheckpointVersion)
    fail(path, "unsupported format version " + std::to_string(version) +
                   " (this attnlab reads version " + std::to_string(kCheckpointVersion) + ")");

  Checkpoint c;
  c.config_yaml = get_string(dict, "config", path);
  c.model = get_tensors(dict, "model", path);
  const auto& opt_value = get(dict, "optimizer", path);
  if (!opt_value.isGenericDict()) fail(path, "key 'optimizer' is not a dict");
  const auto optimizer = opt_value.toGenericDict();
  c.optimizer_step = get_int(optimizer, "step", path);
  c.exp_avg = get_tensors(optimizer, "exp_avg", path);
  c.exp_avg_sq = get_tensors(optimizer, "exp_avg_sq", path);
  c.step = get_int(dict, "step", path);
  c.epoch = get_int(dict, "epoch", path);
  c.batch_in_epoch = get_int(dict, "batch_in_epoch", path);
  const auto& rng = get(dict, "rng_state", path);
  if (!rng.isTensor()) fail(path, "key 'rng_state' is not a tensor");
  c.rng_state = rng.toTensor();
  c.best_metric = get_double(dict, "best_metric", path);
  c.best_step = get_int(dict, "best_step", path);
  c.evals_without_improvement = get_int(dict, "evals_without_improvement", path);
  c.tokens_seen = get_int(dict, "tokens_seen", path);
  c.elapsed_s = get_double(dict, "elapsed_s", path);
  c.src_vocab = get_strings(dict, "src_vocab", path);
  c.tgt_vocab = get_strings(dict, "tgt_vocab", path);
  c.labels = get_strings(dict, "labels", path);
  return c;
}

}  // namespace attnlab
