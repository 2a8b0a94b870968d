#include "attention_log/probe.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <omp.h>
#include <spdlog/spdlog.h>
#include <torch/utils.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <stdexcept>

#include "attention_log/alignment.h"
#include "data/random.h"
#include "data/tsv.h"

namespace attnlab {
namespace {

// The positions the layers attend over. Translation split before the layers: every source
// token's k states, shown as "token:1" .. "token:k".
bool attends_over_upsampled(const EncoderModel& model) {
  return model->options.task == TaskKind::kTranslation &&
         model->options.ctc_split_at == CtcSplitAt::kEmbedding;
}

std::vector<std::string> display_tokens(const TaskSpec& spec, const std::string& text,
                                        int64_t upsample) {
  auto tokens = spec.tokenizer.tokenize(text);
  if (spec.task == TaskKind::kClassification) tokens.insert(tokens.begin(), "<cls>");
  if (upsample <= 1) return tokens;
  std::vector<std::string> states;
  for (const auto& t : tokens)
    for (int64_t j = 1; j <= upsample; ++j) states.push_back(t + ":" + std::to_string(j));
  return states;
}

void check_indices(const std::vector<int64_t>& chosen, int64_t available, const char* what) {
  for (auto i : chosen)
    if (i < 0 || i >= available)
      throw std::invalid_argument(std::string(what) + " " + std::to_string(i) +
                                  " out of range: the model has " + std::to_string(available) +
                                  " (0-" + std::to_string(available - 1) + ")");
}

void fill_ids(AttentionRecord& record, const EncoderModel& model,
              const std::vector<int64_t>& layers, const std::vector<int64_t>& heads) {
  const int64_t num_layers = model->options.encoder.num_layers;
  const int64_t num_heads = model->options.encoder.layer.num_heads;
  check_indices(layers, num_layers, "layer");
  check_indices(heads, num_heads, "head");
  record.layer_ids = layers;
  if (layers.empty())
    for (int64_t l = 0; l < num_layers; ++l) record.layer_ids.push_back(l);
  record.head_ids = heads;
  if (heads.empty())
    for (int64_t h = 0; h < num_heads; ++h) record.head_ids.push_back(h);
}

}  // namespace

AttentionRecord record_image_attention(EncoderModel& model, const at::Tensor& images,
                                       const std::vector<std::string>& names, int64_t step,
                                       const std::string& source,
                                       const std::vector<int64_t>& layers,
                                       const std::vector<int64_t>& heads) {
  TORCH_CHECK(model->options.task == TaskKind::kImageClassification,
              "record_image_attention: not an image model");
  TORCH_CHECK(images.dim() == 4 && images.scalar_type() == at::kByte && images.size(0) >= 1,
              "record_image_attention: expected (N, C, H, W) uint8 images, got ", images.sizes(),
              " ", images.scalar_type());
  TORCH_CHECK(static_cast<int64_t>(names.size()) == images.size(0),
              "record_image_attention: ", names.size(), " names for ", images.size(0), " images");
  const auto& patches = model->options.patches;
  AttentionRecord record;
  record.step = step;
  record.source = source;
  fill_ids(record, model, layers, heads);
  const auto tokens = patch_tokens(patches.grid_height(), patches.grid_width());
  for (int64_t n = 0; n < images.size(0); ++n) {
    record.tokens.push_back(tokens);
    record.lengths.push_back(static_cast<int64_t>(tokens.size()));
  }
  record.images.pixels = images.contiguous();
  record.images.patch_size = patches.patch_size;
  record.images.names = names;

  const auto output = forward_with_weights(model, images);  // weights: L x (N, H, T, T)
  const auto head_index = at::tensor(record.head_ids, at::kLong);
  for (auto l : record.layer_ids) {
    const auto w = output.weights[static_cast<size_t>(l)].to(at::kFloat);  // (N, H, T, T)
    record.layers.push_back(w.index_select(1, head_index).contiguous());   // (N, H', T, T)
  }
  return record;
}

AttentionRecord record_attention(EncoderModel& model, const TaskSpec& spec,
                                 const std::vector<std::string>& texts, int64_t step,
                                 const std::string& source, const std::vector<int64_t>& layers,
                                 const std::vector<int64_t>& heads) {
  TORCH_CHECK(!texts.empty(), "record_attention: no inputs");
  if (spec.task == TaskKind::kImageClassification)
    throw AttentionLogError(
        "record_attention takes text inputs; images go through "
        "record_image_attention");
  std::vector<Example> examples;
  for (const auto& text : texts) {
    Example e;
    e.source = text;
    e.target = spec.task == TaskKind::kTransduction ? text
               : spec.task == TaskKind::kTranslation
                   ? std::string("x")  // one token fits any source
                   : spec.labels.label(0);
    e.line = static_cast<int64_t>(examples.size()) + 1;
    examples.push_back(std::move(e));
  }
  const Dataset data = make_dataset(std::move(examples), "<attention probe>", spec);
  std::vector<int64_t> all(static_cast<size_t>(data.size()));
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  const auto tokens = data.batch(all).src;  // (N, T)

  AttentionRecord record;
  record.step = step;
  record.source = source;
  fill_ids(record, model, layers, heads);
  const int64_t upsample = attends_over_upsampled(model) ? model->options.ctc_upsample : 1;
  for (int64_t i = 0; i < data.size(); ++i) {
    record.tokens.push_back(display_tokens(spec, data.example(i).source, upsample));
    record.lengths.push_back(data.lengths()[static_cast<size_t>(i)] * upsample);
  }
  const auto output = forward_with_weights(model, tokens);  // weights: L x (N, H, T, T)
  const auto& weights = output.weights;
  if (spec.task == TaskKind::kTranslation) {
    for (int64_t i = 0; i < data.size(); ++i) {
      auto a = alignment_from_output(model, output, i,
                                     spec.tokenizer.tokenize(data.example(i).source), spec);
      record.alignments.push_back({std::move(a.source_tokens), std::move(a.output_tokens),
                                   std::move(a.positions), a.weights});
    }
  }

  auto valid = tokens.ne(Vocab::kPadId).to(at::kFloat);                    // (N, T)
  if (upsample > 1) valid = valid.repeat_interleave(upsample, /*dim=*/1);  // (N, T*k)
  const auto keep =
      valid.unsqueeze(1).unsqueeze(-1) * valid.unsqueeze(1).unsqueeze(2);  // (N, 1, T, T)
  const auto head_index = at::tensor(record.head_ids, at::kLong);
  for (auto l : record.layer_ids) {
    auto w = weights[static_cast<size_t>(l)].to(at::kFloat) * keep;       // (N, H, T, T)
    record.layers.push_back(w.index_select(1, head_index).contiguous());  // (N, H', T, T)
  }
  return record;
}

AttentionLogger::AttentionLogger(const AttentionLogConfig& config, const TaskSpec& spec,
                                 const Dataset& valid, const std::string& run_dir, uint64_t seed)
    : config_(config),
      spec_(spec),
      directory_((std::filesystem::path(run_dir) / "attention").string()) {
  if (!config_.examples.empty() && !valid.has_images()) {
    probes_ = config_.examples;
  } else {
    // A seeded choice, stable across runs and resumes.
    std::mt19937_64 rng(mix_seed(seed ^ 0xa77e1u));
    std::vector<int64_t> order(static_cast<size_t>(valid.size()));
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[uniform_below(rng, i)]);
    const auto n = std::min<int64_t>(config_.num_examples, valid.size());
    order.resize(static_cast<size_t>(n));
    for (auto i : order) {
      const auto& example = valid.example(i);
      probes_.push_back(valid.has_images() ? example.source + " (" + example.target + ")"
                                           : example.source);
    }
    if (valid.has_images())
      probe_images_ = valid.images().index_select(0, at::tensor(order, at::kLong));
  }
  std::filesystem::create_directories(directory_);
  writer_ = std::thread([this] { writer_loop(); });
}

AttentionLogger::~AttentionLogger() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
}

void AttentionLogger::on_step(EncoderModel& model, int64_t step, bool last) {
  const bool due = step == 0 || last || (config_.every > 0 && step % config_.every == 0);
  if (!due || step == last_logged_step_) return;
  last_logged_step_ = step;
  auto record =
      probe_images_.defined()
          ? record_image_attention(model, probe_images_, probes_, step, "train", config_.layers,
                                   config_.heads)
          : record_attention(model, spec_, probes_, step, "train", config_.layers, config_.heads);
  const auto path = (std::filesystem::path(directory_) / record_file_name(step)).string();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!error_.empty()) throw std::runtime_error("attention log writer failed: " + error_);
    queue_.emplace_back(path, std::move(record));
  }
  wake_.notify_one();
}

void AttentionLogger::writer_loop() {
  // This thread's tensor work (validating and pickling a record) runs serially. An OpenMP team
  // of its own (an image record's tensors are large enough for at::parallel_for to split)
  // would leave libgomp with more threads than cores, and it then stops the training team's
  // workers from spin-waiting between parallel regions: image runs trained 10-20% slower with
  // attention logging on (2-core EPYC). at::get_num_threads() first: LibTorch's lazy
  // per-thread initialisation would otherwise set this thread's count back to the process's.
  at::get_num_threads();
  omp_set_num_threads(1);  // this thread's OpenMP ICV only; the training threads keep theirs
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) {
      if (stopping_) break;
      continue;
    }
    auto item = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    std::string error;
    try {
      save_record(item.first, item.second);
    } catch (const std::exception& e) {
      error = e.what();
    }
    lock.lock();
    busy_ = false;
    if (!error.empty())
      error_ = error;
    else
      ++written_;
    drained_.notify_all();
  }
}

int64_t AttentionLogger::records_written() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return written_;
}

void AttentionLogger::flush() {
  std::unique_lock<std::mutex> lock(mutex_);
  drained_.wait(lock, [this] { return queue_.empty() && !busy_; });
  if (!error_.empty()) throw std::runtime_error("attention log writer failed: " + error_);
}

}  // namespace attnlab
