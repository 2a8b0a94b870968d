#include "train/run_data.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "data/image_files.h"
#include "data/tsv.h"
#include "runtime/threads.h"

namespace attnlab {

namespace {
TaskSpec spec_shell(const Config& config) {
  TaskSpec spec;
  spec.task = config.data.task;
  spec.max_len = config.data.max_len;
  spec.ctc_upsample = config.model.ctc.upsample;
  spec.skip_unfit = config.data.skip_unfit;
  spec.format = config.data.format;
  spec.idx_classes = config.data.image.classes;
  return spec;
}
}  // namespace

std::string read_spm_model(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError("data.spm.model: cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) throw DataError("data.spm.model: cannot read " + path + ": read failed");
  return bytes.str();
}

Tokenizer make_tokenizer(const Config& config, const std::vector<Example>& train) {
  const auto& data = config.data;
  if (data.tokenization != Tokenization::kSentencepiece) return Tokenizer(data.tokenization);
  if (!data.spm.model.empty()) {
    try {
      return Tokenizer::load_sentencepiece(read_spm_model(data.spm.model));
    } catch (const std::invalid_argument& e) {
      throw DataError("data.spm.model: " + data.spm.model + ": " + e.what());
    }
  }
  // One model for both sides: names, numbers and shared words get the same pieces.
  std::vector<std::string> texts;
  texts.reserve(train.size() * 2);
  for (const auto& e : train) {
    texts.push_back(e.source);
    if (has_target_sequence(data.task)) texts.push_back(e.target);
  }
  SentencePieceOptions options;
  options.vocab_size = data.spm.vocab_size;
  options.model_type = data.spm.model_type;
  options.character_coverage = data.spm.character_coverage;
  options.threads = config.run.threads > 0 ? config.run.threads : available_cores();
  try {
    return Tokenizer::train_sentencepiece(texts, options);
  } catch (const std::invalid_argument& e) {
    throw DataError(data.train + ": " + e.what() +
                    " (data.spm.vocab_size=" + std::to_string(data.spm.vocab_size) + ")");
  }
}

TaskSpec build_task_spec(const Config& config, const std::vector<Example>& train) {
  TaskSpec spec = spec_shell(config);
  if (train.empty()) throw DataError(config.data.train + ": no examples");
  spec.tokenizer = make_tokenizer(config, train);
  auto vocabs = build_vocabularies(train, spec.dataset_options(), config.data.train);
  spec.source = std::move(vocabs.source);
  if (vocabs.target) spec.target = std::move(*vocabs.target);
  if (vocabs.labels) spec.labels = std::move(*vocabs.labels);
  return spec;
}

TaskSpec task_spec_from_lists(const Config& config, const std::vector<std::string>& source,
                              const std::vector<std::string>& target,
                              const std::vector<std::string>& labels, const std::string& spm_model,
                              const std::vector<int64_t>& image_shape) {
  TaskSpec spec = spec_shell(config);
  if (spec.task == TaskKind::kImageClassification) {
    if (image_shape.size() != 3)
      throw std::invalid_argument("data.task=image_classification but no image shape is stored");
    spec.image_shape = image_shape;
    spec.labels = LabelSet::from_ordered(labels);  // the checkpoint's order is the model's
    return spec;
  }
  if (config.data.tokenization == Tokenization::kSentencepiece) {
    if (spm_model.empty())
      throw std::invalid_argument(
          "data.tokenization=sentencepiece but no SentencePiece model is stored");
    spec.tokenizer = Tokenizer::load_sentencepiece(spm_model);
  } else {
    spec.tokenizer = Tokenizer(config.data.tokenization);
  }
  spec.source = Vocab::from_tokens(source);
  if (has_target_sequence(spec.task))
    spec.target = Vocab::from_tokens(target);
  else
    spec.labels = LabelSet::from_labels(labels);
  return spec;
}

TaskSpec task_spec_from_checkpoint(const Config& config, const Checkpoint& checkpoint) {
  return task_spec_from_lists(config, checkpoint.src_vocab, checkpoint.tgt_vocab, checkpoint.labels,
                              checkpoint.spm_model, checkpoint.image_shape);
}

TrainingImages read_training_images(const Config& config) {
  const auto& d = config.data;
  TrainingImages images;
  images.train = read_image_split(d.format, d.train, d.image.train_labels, d.image.classes);
  if (d.image.holdout > 0) {
    images.held_out = take_last(images.train, d.image.holdout, d.train);
    images.held_out_name = d.train + " (last " + std::to_string(d.image.holdout) + ")";
  }
  return images;
}

namespace {
// IDX labels in label order: data.image.classes as listed, or the numbers that occur, in
// numeric order. PNG folders: the labels of the training TSV, sorted, as for text.
LabelSet image_labels(const Config& config, const ImageSet& train) {
  if (config.data.format != DataFormat::kIdx) return LabelSet::from_labels(train.labels);
  if (!config.data.image.classes.empty()) return LabelSet::from_ordered(config.data.image.classes);
  std::vector<int64_t> numbers;
  for (const auto& label : train.labels) numbers.push_back(std::stoll(label));
  std::sort(numbers.begin(), numbers.end());
  numbers.erase(std::unique(numbers.begin(), numbers.end()), numbers.end());
  std::vector<std::string> names;
  for (const int64_t n : numbers) names.push_back(std::to_string(n));
  return LabelSet::from_ordered(names);
}
}  // namespace

TaskSpec build_image_task_spec(const Config& config, const ImageSet& train) {
  TaskSpec spec = spec_shell(config);
  if (train.size() == 0) throw DataError(config.data.train + ": no examples");
  const auto& p = train.pixels;
  spec.image_shape = {p.size(1), p.size(2), p.size(3)};
  const int64_t patch = config.model.patch_size;
  if (p.size(2) % patch != 0 || p.size(3) % patch != 0)
    throw DataError(config.data.train + ": model.patch_size=" + std::to_string(patch) +
                    " does not divide its " + std::to_string(p.size(2)) + "x" +
                    std::to_string(p.size(3)) + " images");
  if (p.size(2) > kMaxImageSide || p.size(3) > kMaxImageSide)
    throw DataError(config.data.train + ": images of " + std::to_string(p.size(2)) + "x" +
                    std::to_string(p.size(3)) + " are larger than " +
                    std::to_string(kMaxImageSide) + " pixels a side");
  const auto& augment = config.data.image.augment;
  if (augment.crop_padding >= std::min(p.size(2), p.size(3)))
    throw DataError(config.data.train +
                    ": data.image.augment.crop_padding=" + std::to_string(augment.crop_padding) +
                    " shifts its " + std::to_string(p.size(2)) + "x" + std::to_string(p.size(3)) +
                    " images entirely out of view; use less than the smaller side");
  spec.labels = image_labels(config, train);
  return spec;
}

namespace {
std::string shape_text(const std::vector<int64_t>& chw) {
  return std::to_string(chw[0]) + "x" + std::to_string(chw[1]) + "x" + std::to_string(chw[2]);
}
}  // namespace

Dataset make_image_dataset(ImageSet images, const std::string& path, const TaskSpec& spec) {
  TORCH_CHECK(spec.image_shape.size() == 3, "make_image_dataset: the spec has no image shape");
  const auto& p = images.pixels;
  if (images.size() > 0) {
    const std::vector<int64_t> shape{p.size(1), p.size(2), p.size(3)};
    if (shape != spec.image_shape)
      throw DataError(path + ": images are " + shape_text(shape) +
                      " (channels x height x width), "
                      "the model takes " +
                      shape_text(spec.image_shape));
  }
  DatasetOptions options = spec.dataset_options();
  return Dataset(std::move(images), options, spec.labels, path);
}

Dataset make_dataset(std::vector<Example> examples, const std::string& path_for_errors,
                     const TaskSpec& spec) {
  return Dataset(std::move(examples), spec.dataset_options(), spec.vocabularies(), path_for_errors);
}

Dataset load_split(const std::string& path, const TaskSpec& spec, const std::string& labels) {
  if (spec.task == TaskKind::kImageClassification)
    return make_image_dataset(read_image_split(spec.format, path, labels, spec.idx_classes), path,
                              spec);
  return make_dataset(read_tsv(path), path, spec);
}

Dataset load_config_split(const Config& config, const TaskSpec& spec, const std::string& name) {
  const auto& d = config.data;
  const auto& image = d.image;
  const bool held_out = spec.task == TaskKind::kImageClassification && image.holdout > 0;
  if (held_out && (name == "train" || name == "valid")) {
    auto images = read_training_images(config);
    if (name == "train") return make_image_dataset(std::move(images.train), d.train, spec);
    return make_image_dataset(std::move(*images.held_out), images.held_out_name, spec);
  }
  std::string path, labels;
  if (name == "train")
    path = d.train, labels = image.train_labels;
  else if (name == "valid")
    path = d.valid, labels = image.valid_labels;
  else if (name == "test")
    path = d.test, labels = image.test_labels;
  else
    throw std::invalid_argument("the split must be test, valid or train, got '" + name + "'");
  if (path.empty()) throw std::invalid_argument("the config has no data." + name + " split");
  return load_split(path, spec, labels);
}

ModelOptions make_model_options(const Config& config, const TaskSpec& spec) {
  const auto& m = config.model;
  ModelOptions o;
  o.embedding.vocab_size = spec.source.size();
  o.embedding.d_model = m.d_model;
  o.embedding.max_len = config.data.max_len;
  o.embedding.positions = m.positions;
  o.embedding.dropout = m.dropout;
  o.encoder.num_layers = m.num_layers;
  o.encoder.layer.d_model = m.d_model;
  o.encoder.layer.num_heads = m.num_heads;
  o.encoder.layer.d_ff = m.d_ff;
  o.encoder.layer.dropout = m.dropout;
  o.encoder.layer.attention_dropout = m.attention_dropout;
  o.encoder.layer.activation = m.activation;
  o.encoder.layer.norm_first = m.norm == NormPlacement::kPre;
  o.task = spec.task;
  o.num_outputs = spec.num_outputs();
  o.pooling = m.pooling;
  if (spec.task == TaskKind::kTranslation) {
    o.ctc_upsample = m.ctc.upsample;
    o.ctc_split_at = m.ctc.split_at;
  }
  o.pad_id = Vocab::kPadId;
  if (spec.task == TaskKind::kImageClassification) {
    o.patches.channels = spec.image_shape.at(0);
    o.patches.height = spec.image_shape.at(1);
    o.patches.width = spec.image_shape.at(2);
    o.patches.patch_size = m.patch_size;
    o.patches.d_model = m.d_model;
    o.patches.positions = m.positions;
    o.patches.dropout = m.dropout;
  }
  return o;
}

}  // namespace attnlab
