#include "train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>
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

  c10::IValue root;
  try {
    root = torch::pickle_load(bytes);
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
