#include "train/checkpoint.h"

#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>
#include <torch/serialize.h>

#include <cstring>

#include "data/image_set.h"
#include "io/atomic_file.h"
#include "io/torch_file.h"

namespace attnlab {
namespace {

using GenericDict = c10::impl::GenericDict;

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

Checkpoint read_checkpoint(const std::string& path) {
  const auto file = read_torch_file(path, "an attnlab checkpoint");
  const PickleDict dict(unpickle(file), path, "an attnlab checkpoint");
  if (!dict.has("format") || !dict.at("format").isString() ||
      dict.at("format").toStringRef() != kCheckpointFormat)
    dict.fail(std::string("not an attnlab checkpoint (no format='") + kCheckpointFormat + "' key)");
  const int64_t version = dict.integer("version");
  if (version != kCheckpointVersion)
    dict.fail("unsupported format version " + std::to_string(version) +
              " (this attnlab reads version " + std::to_string(kCheckpointVersion) + ")");

  Checkpoint c;
  c.config_yaml = dict.string("config");
  c.model = dict.tensors("model");
  const auto optimizer = dict.dict("optimizer");
  c.optimizer_step = optimizer.integer("step");
  c.exp_avg = optimizer.tensors("exp_avg");
  c.exp_avg_sq = optimizer.tensors("exp_avg_sq");
  auto& s = c.state;
  s.step = dict.integer("step");
  s.epoch = dict.integer("epoch");
  s.batch_in_epoch = dict.integer("batch_in_epoch");
  s.rng_state = dict.tensor("rng_state");
  s.best_metric = dict.number("best_metric");
  s.best_step = dict.integer("best_step");
  s.evals_without_improvement = dict.integer("evals_without_improvement");
  s.tokens_seen = dict.integer("tokens_seen");
  s.elapsed_s = dict.number("elapsed_s");
  c.src_vocab = dict.strings("src_vocab");
  c.tgt_vocab = dict.strings("tgt_vocab");
  c.labels = dict.strings("labels");
  // Optional (checkpoints written before SentencePiece have no such key): a uint8 tensor of the
  // .model file's bytes, since a pickled str must be UTF-8 for Python to read it.
  if (dict.has("spm_model")) {
    const auto bytes = dict.tensor("spm_model");
    if (bytes.scalar_type() != at::kByte || bytes.dim() != 1)
      dict.fail("'spm_model' must be a 1-D uint8 tensor");
    const auto contiguous = bytes.contiguous();
    if (contiguous.numel() > 0)
      c.spm_model.assign(reinterpret_cast<const char*>(contiguous.data_ptr<uint8_t>()),
                         static_cast<size_t>(contiguous.numel()));
  }
  // Optional (text checkpoints before images have none): an int64 tensor, empty or (C, H, W).
  if (dict.has("image_shape")) {
    const auto shape = dict.tensor("image_shape");
    if (shape.scalar_type() != at::kLong || shape.dim() != 1 ||
        (shape.numel() != 0 && shape.numel() != 3))
      dict.fail("'image_shape' must be an int64 tensor of 0 or 3 elements");
    const auto contiguous = shape.contiguous();
    for (int64_t i = 0; i < contiguous.numel(); ++i) {
      const int64_t v = contiguous.data_ptr<int64_t>()[i];
      if (v <= 0 || v > kMaxImageSide) dict.fail("'image_shape' holds " + std::to_string(v));
      c.image_shape.push_back(v);
    }
  }
  return c;
}

}  // namespace

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
  const auto& s = c.state;
  dict.insert("step", s.step);
  dict.insert("epoch", s.epoch);
  dict.insert("batch_in_epoch", s.batch_in_epoch);
  dict.insert("rng_state", s.rng_state.defined() ? s.rng_state : at::empty({0}, at::kByte));
  dict.insert("best_metric", s.best_metric);
  dict.insert("best_step", s.best_step);
  dict.insert("evals_without_improvement", s.evals_without_improvement);
  dict.insert("tokens_seen", s.tokens_seen);
  dict.insert("elapsed_s", s.elapsed_s);
  dict.insert("src_vocab", string_list(c.src_vocab));
  dict.insert("tgt_vocab", string_list(c.tgt_vocab));
  dict.insert("labels", string_list(c.labels));
  auto spm_bytes = at::empty({static_cast<int64_t>(c.spm_model.size())}, at::kByte);
  if (!c.spm_model.empty())
    std::memcpy(spm_bytes.data_ptr<uint8_t>(), c.spm_model.data(), c.spm_model.size());
  dict.insert("spm_model", spm_bytes);
  dict.insert("image_shape", at::tensor(c.image_shape, at::kLong));
  try {
    write_file_atomically(path, torch::pickle_save(dict));
  } catch (const std::exception& e) {
    throw CheckpointError("cannot save checkpoint " + path + ": " + e.what());
  }
}

Checkpoint load_checkpoint(const std::string& path) {
  try {
    return read_checkpoint(path);
  } catch (const TorchFileError& e) {
    throw CheckpointError(std::string("checkpoint ") + e.what());
  }
}

}  // namespace attnlab
