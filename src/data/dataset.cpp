#include "data/dataset.h"

#include <c10/util/Exception.h>
#include <torch/torch.h>

#include <algorithm>
#include <random>
#include <stdexcept>
#include <utility>

#include "data/random.h"

namespace attnlab {
namespace {

DataError line_error(const std::string& path, int64_t line, const std::string& what) {
  return DataError(path + ":" + std::to_string(line) + ": " + what);
}

}  // namespace

int64_t ctc_min_positions(const std::vector<int64_t>& target) {
  int64_t n = static_cast<int64_t>(target.size());
  for (size_t i = 1; i < target.size(); ++i) n += target[i] == target[i - 1] ? 1 : 0;
  return n;
}

Vocabularies build_vocabularies(const std::vector<Example>& train, const DatasetOptions& options,
                                const std::string& path) {
  if (train.empty()) throw DataError(path + ": no examples");
  std::vector<std::vector<std::string>> sources;
  sources.reserve(train.size());
  for (const auto& e : train) sources.push_back(options.tokenizer.tokenize(e.source));
  Vocabularies vocabs;
  vocabs.source = Vocab::build(sources);
  if (has_target_sequence(options.task)) {
    std::vector<std::vector<std::string>> targets;
    targets.reserve(train.size());
    for (const auto& e : train) targets.push_back(options.tokenizer.tokenize(e.target));
    vocabs.target = Vocab::build(targets);
  } else {
    std::vector<std::string> labels;
    labels.reserve(train.size());
    for (const auto& e : train) labels.push_back(e.target);
    vocabs.labels = LabelSet::from_labels(std::move(labels));
  }
  return vocabs;
}

Dataset::Dataset(std::vector<Example> examples, const DatasetOptions& options,
                 const Vocabularies& vocabs, std::string path)
    : options_(options), path_(std::move(path)), examples_(std::move(examples)) {
  TORCH_CHECK(options_.max_len > 0, "max_len must be positive, got ", options_.max_len);
  const bool sequence = has_target_sequence(options_.task);
  const bool transduction = options_.task == TaskKind::kTransduction;
  TORCH_CHECK(!sequence || vocabs.target.has_value(), "a ", name_of(options_.task),
              " dataset needs a target vocabulary");
  TORCH_CHECK(sequence || vocabs.labels.has_value(), "a classification dataset needs a label set");
  TORCH_CHECK(options_.ctc_upsample > 0, "ctc_upsample must be positive, got ",
              options_.ctc_upsample);
  if (examples_.empty()) throw DataError(path_ + ": no examples");

  // data.skip_unfit: drop the pair instead of failing; keeps the count and the first reason.
  auto skip = [&](int64_t line, const char* why) {
    if (!options_.skip_unfit) return false;
    if (skipped_.empty()) first_skipped_ = "line " + std::to_string(line) + ": " + why;
    return true;
  };
  std::vector<Example> kept;
  for (size_t i = 0; i < examples_.size(); ++i) {
    Example& e = examples_[i];
    const int64_t line = e.line > 0 ? e.line : static_cast<int64_t>(i) + 1;
    const auto source_tokens = options_.tokenizer.tokenize(e.source);
    if (source_tokens.empty()) throw line_error(path_, line, "source has no tokens");
    std::vector<int64_t> ids;
    if (!sequence) ids.push_back(Vocab::kClsId);
    for (const auto& token : source_tokens) ids.push_back(vocabs.source.id(token));
    const auto length = static_cast<int64_t>(ids.size());
    if (length > options_.max_len) {
      if (skip(line, "source longer than max_len")) {
        skipped_.push_back(std::move(e));
        continue;
      }
      throw line_error(path_, line,
                       "source has " + std::to_string(length) + " tokens" +
                           (sequence ? "" : " (with <cls>)") +
                           ", more than max_len=" + std::to_string(options_.max_len));
    }
    if (transduction) {
      const auto target_tokens = options_.tokenizer.tokenize(e.target);
      if (target_tokens.size() != source_tokens.size()) {
        throw line_error(path_, line,
                         "target has " + std::to_string(target_tokens.size()) +
                             " tokens but source has " + std::to_string(source_tokens.size()) +
                             "; transduction needs equal lengths");
      }
      targets_.push_back(vocabs.target->encode(target_tokens));
    } else if (sequence) {
      const auto target_tokens = options_.tokenizer.tokenize(e.target);
      if (target_tokens.empty()) throw line_error(path_, line, "target has no tokens");
      auto target = vocabs.target->encode(target_tokens);
      const int64_t needed = ctc_min_positions(target);
      const int64_t available = options_.ctc_upsample * length;
      if (needed > available) {
        if (skip(line, "target needs more CTC positions than the source gives")) {
          skipped_.push_back(std::move(e));
          continue;
        }
        const int64_t repeats = needed - static_cast<int64_t>(target.size());
        throw line_error(
            path_, line,
            "target needs " + std::to_string(needed) + " CTC positions (" +
                std::to_string(target.size()) + " tokens" +
                (repeats > 0 ? " + " + std::to_string(repeats) + " blanks between repeats" : "") +
                ") but the source gives " + std::to_string(options_.ctc_upsample) + " x " +
                std::to_string(length) + " = " + std::to_string(available) +
                " (model.ctc.upsample=" + std::to_string(options_.ctc_upsample) +
                "); raise model.ctc.upsample or drop the pair");
      }
      targets_.push_back(std::move(target));
    } else {
      const int64_t label = vocabs.labels->find(e.target);
      if (label < 0) {
        throw line_error(
            path_, line,
            "unknown label '" + e.target + "'; known labels: " + vocabs.labels->joined());
      }
      labels_.push_back(label);
    }
    sources_.push_back(std::move(ids));
    lengths_.push_back(length);
    kept.push_back(std::move(e));
  }
  if (kept.empty()) {
    throw DataError(path_ + ": none of its " + std::to_string(examples_.size()) +
                    " examples fits (data.skip_unfit dropped them all; first: " + first_skipped_ +
                    ")");
  }
  examples_ = std::move(kept);
}

Dataset::Dataset(ImageSet images, const DatasetOptions& options, const LabelSet& labels,
                 std::string path)
    : options_(options), path_(std::move(path)) {
  TORCH_CHECK(options_.task == TaskKind::kImageClassification,
              "an image dataset is for data.task=image_classification, not ",
              name_of(options_.task));
  if (images.size() == 0) throw DataError(path_ + ": no examples");
  TORCH_CHECK(images.pixels.dim() == 4 && images.pixels.scalar_type() == torch::kByte &&
                  images.pixels.size(0) == images.size() &&
                  static_cast<int64_t>(images.names.size()) == images.size(),
              "ImageSet: pixels must be (N, C, H, W) uint8 with N labels and names, got ",
              images.pixels.sizes(), " ", images.pixels.scalar_type(), ", ", images.size(),
              " labels, ", images.names.size(), " names");
  const auto n = static_cast<size_t>(images.size());
  examples_.reserve(n);
  labels_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t id = labels.find(images.labels[i]);
    if (id < 0) {
      throw DataError(path_ + ": image '" + images.names[i] + "' has label '" + images.labels[i] +
                      "', which the model does not know (it knows " + labels.joined() + ")");
    }
    labels_.push_back(id);
    examples_.push_back(Example{std::move(images.names[i]), std::move(images.labels[i]), 0});
  }
  lengths_.assign(n, 1);
  images_ = images.pixels.contiguous();
}

const Example& Dataset::example(int64_t i) const {
  TORCH_CHECK(i >= 0 && i < size(), "example index ", i, " out of range for ", size(), " examples");
  return examples_[static_cast<size_t>(i)];
}

const std::vector<int64_t>& Dataset::source(int64_t i) const {
  TORCH_CHECK(!has_images(), "source() is for text datasets; images() holds the pixels");
  TORCH_CHECK(i >= 0 && i < size(), "example index ", i, " out of range for ", size(), " examples");
  return sources_[static_cast<size_t>(i)];
}

const std::vector<int64_t>& Dataset::target(int64_t i) const {
  TORCH_CHECK(has_target_sequence(options_.task),
              "target() is for transduction and translation datasets");
  TORCH_CHECK(i >= 0 && i < size(), "example index ", i, " out of range for ", size(), " examples");
  return targets_[static_cast<size_t>(i)];
}

int64_t Dataset::label(int64_t i) const {
  TORCH_CHECK(is_classification(options_.task), "label() is for classification datasets");
  TORCH_CHECK(i >= 0 && i < size(), "example index ", i, " out of range for ", size(), " examples");
  return labels_[static_cast<size_t>(i)];
}

Batch Dataset::batch(const std::vector<int64_t>& indices, int64_t pad_to) const {
  TORCH_CHECK(!indices.empty(), "a batch needs at least one example");
  const auto B = static_cast<int64_t>(indices.size());
  if (has_images()) {
    for (const int64_t i : indices)
      TORCH_CHECK(i >= 0 && i < size(), "example index ", i, " out of range for ", size(),
                  " examples");
    auto rows = torch::tensor(indices, torch::kLong);  // (B)
    auto tgt = torch::empty({B}, torch::kLong);        // (B)
    auto tgt_a = tgt.accessor<int64_t, 1>();
    for (int64_t b = 0; b < B; ++b)
      tgt_a[b] = labels_[static_cast<size_t>(indices[static_cast<size_t>(b)])];
    return Batch{images_.index_select(0, rows), tgt, B};  // (B, C, H, W) uint8
  }
  int64_t T = pad_to, S = options_.task == TaskKind::kTransduction ? pad_to : 0;
  const bool sequence = has_target_sequence(options_.task);
  for (const int64_t i : indices) {
    TORCH_CHECK(i >= 0 && i < size(), "example index ", i, " out of range for ", size(),
                " examples");
    T = std::max(T, lengths_[static_cast<size_t>(i)]);
    if (sequence) S = std::max(S, static_cast<int64_t>(targets_[static_cast<size_t>(i)].size()));
  }
  auto src = torch::full({B, T}, Vocab::kPadId, torch::kLong);            // (B, T)
  auto tgt = sequence ? torch::full({B, S}, Vocab::kPadId, torch::kLong)  // (B, S)
                      : torch::empty({B}, torch::kLong);                  // (B)
  auto src_a = src.accessor<int64_t, 2>();
  int64_t num_tokens = 0;
  for (int64_t b = 0; b < B; ++b) {
    const auto i = static_cast<size_t>(indices[static_cast<size_t>(b)]);
    const auto& ids = sources_[i];
    for (size_t t = 0; t < ids.size(); ++t) src_a[b][static_cast<int64_t>(t)] = ids[t];
    if (sequence) {
      auto tgt_a = tgt.accessor<int64_t, 2>();
      for (size_t t = 0; t < targets_[i].size(); ++t) {
        tgt_a[b][static_cast<int64_t>(t)] = targets_[i][t];
        if (targets_[i][t] != Vocab::kPadId) ++num_tokens;
      }
    } else {
      tgt.accessor<int64_t, 1>()[b] = labels_[i];
    }
  }
  if (!sequence) num_tokens = B;
  return Batch{src, tgt, num_tokens};
}

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch) {
  TORCH_CHECK(n >= 0, "epoch_order: n must be non-negative, got ", n);
  std::mt19937_64 rng(mix_seed(mix_seed(seed) ^ static_cast<uint64_t>(epoch)));
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  shuffle_in_place(rng, order);
  return order;
}

std::vector<std::vector<int64_t>> make_batches(const std::vector<int64_t>& order,
                                               const std::vector<int64_t>& lengths,
                                               const BatchingOptions& options) {
  TORCH_CHECK(options.batch_size > 0, "batch_size must be positive, got ", options.batch_size);
  TORCH_CHECK(options.bucket_batches >= 0, "bucket_batches must be non-negative, got ",
              options.bucket_batches);
  std::vector<int64_t> arranged = order;
  if (options.bucket_batches > 0) {
    for (const int64_t i : order) {
      TORCH_CHECK(i >= 0 && i < static_cast<int64_t>(lengths.size()), "index ", i,
                  " has no length");
    }
    const auto chunk = static_cast<size_t>(options.bucket_batches * options.batch_size);
    for (size_t start = 0; start < arranged.size(); start += chunk) {
      const auto end = std::min(arranged.size(), start + chunk);
      std::stable_sort(arranged.begin() + static_cast<std::ptrdiff_t>(start),
                       arranged.begin() + static_cast<std::ptrdiff_t>(end),
                       [&](int64_t a, int64_t b) {
                         return lengths[static_cast<size_t>(a)] < lengths[static_cast<size_t>(b)];
                       });
    }
  }
  std::vector<std::vector<int64_t>> batches;
  const auto size = static_cast<size_t>(options.batch_size);
  for (size_t start = 0; start < arranged.size(); start += size) {
    const auto end = std::min(arranged.size(), start + size);
    if (options.drop_last && end - start < size) break;
    batches.emplace_back(arranged.begin() + static_cast<std::ptrdiff_t>(start),
                         arranged.begin() + static_cast<std::ptrdiff_t>(end));
  }
  return batches;
}

}  // namespace attnlab
