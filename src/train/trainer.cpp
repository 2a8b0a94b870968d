#include "train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>
#include <torch/utils.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>

#include "data/image_files.h"
#include "data/tsv.h"
#include "io/atomic_file.h"
#include "io/crc32.h"
#include "io/json.h"
#include "kernels/dropout.h"
#include "runtime/clock.h"
#include "runtime/cpu.h"
#include "runtime/stop_signals.h"
#include "tasks/registry.h"
#include "train/abandoned_timeline.h"
#include "train/precision.h"

namespace attnlab {
namespace {

namespace fs = std::filesystem;

}  // namespace

std::string run_directory(const Config& config) {
  return (fs::path(config.run.out_dir) / config.run.name).string();
}

TaskSpec Trainer::spec_of(const Checkpoint& checkpoint) const {
  try {
    return task_spec_from_checkpoint(config_, checkpoint);
  } catch (const std::invalid_argument& e) {
    throw CheckpointError(std::string("the checkpoint does not fit this config: ") + e.what());
  }
}

void Trainer::load_text(const Checkpoint* resume_from) {
  auto train_examples = read_tsv(config_.data.train);
  const double tokenizer_start = now_s();
  vocabs_ = resume_from ? spec_of(*resume_from) : build_task_spec(config_, train_examples);
  if (!resume_from && config_.data.tokenization == Tokenization::kSentencepiece)
    tokenizer_note_ = config_.data.spm.model.empty()
                          ? fmt::format(", trained on {} in {:.1f} s", config_.data.train,
                                        now_s() - tokenizer_start)
                          : ", from " + config_.data.spm.model;
  train_ = std::make_unique<Dataset>(
      make_dataset(std::move(train_examples), config_.data.train, vocabs_));
  valid_ = std::make_unique<Dataset>(load_split(config_.data.valid, vocabs_));
}

void Trainer::load_images(const Checkpoint* resume_from) {
  const auto& data = config_.data;
  auto images = read_training_images(config_);
  vocabs_ = resume_from ? spec_of(*resume_from) : build_image_task_spec(config_, images.train);
  train_ =
      std::make_unique<Dataset>(make_image_dataset(std::move(images.train), data.train, vocabs_));
  valid_ = std::make_unique<Dataset>(
      images.held_out
          ? make_image_dataset(std::move(*images.held_out), images.held_out_name, vocabs_)
          : load_split(data.valid, vocabs_, data.image.valid_labels));
  augment_.crop_padding = data.image.augment.crop_padding;
  augment_.flip = data.image.augment.flip;
}

Trainer::Trainer(Config config, std::optional<Checkpoint> resume_from, ProcessGroup* group)
    : config_(std::move(config)), group_(group), run_dir_(run_directory(config_)) {
  // train.precision: auto becomes fp32 or bf16 here, so config.yaml and every checkpoint record
  // what ran.
  const auto precision = choose_precision(config_.train.precision, cpu_info());
  config_.train.precision = precision.precision;
  precision_reason_ = precision.reason;
  precision_warning_ = precision.warning;
  torch::manual_seed(config_.run.seed);

  // Data and vocabularies: from the training split for a new run, from the checkpoint when
  // resuming (so ids never shift under a trained model).
  if (config_.data.task == TaskKind::kImageClassification) {
    load_images(resume_from ? &*resume_from : nullptr);
  } else {
    load_text(resume_from ? &*resume_from : nullptr);
  }
  model_ = EncoderModel(make_model_options(config_, vocabs_));
  if (model_->patch_embedding && !resume_from) {
    const auto [mean, std] = pixel_statistics(train_->images());
    model_->patch_embedding->set_pixel_statistics(mean, std);
    auto values = [](const at::Tensor& t) {
      std::string text;
      for (int64_t c = 0; c < t.numel(); ++c)
        text += fmt::format("{}{:.4f}", c ? "," : "", t[c].item<float>());
      return text;
    };
    pixel_note_ = fmt::format("pixel mean={} std={} (training split)", values(mean), values(std));
  }
  AdamWOptions adamw;
  adamw.lr = config_.train.lr;
  adamw.beta1 = config_.train.beta1;
  adamw.beta2 = config_.train.beta2;
  adamw.eps = config_.train.eps;
  adamw.weight_decay = config_.train.weight_decay;
  optimizer_ = std::make_unique<FlatAdamW>(*model_, adamw);

  batches_per_epoch_ = (train_->size() + config_.train.batch_size - 1) / config_.train.batch_size;
  // A step takes train.grad_accum_steps batches, never across the end of an epoch (its last step
  // may take fewer), so that K batches of B/K make the same steps as batches of B.
  const int64_t accum = config_.train.grad_accum_steps;
  steps_per_epoch_ = (batches_per_epoch_ + accum - 1) / accum;
  total_steps_ = config_.train.max_steps > 0 ? config_.train.max_steps
                                             : config_.train.max_epochs * steps_per_epoch_;

  objective_ = make_objective(vocabs_);
  ValidatorOptions validation;
  validation.metric = resolve_best_metric(config_.train.best_metric, *objective_);
  validation.batch_size = validation_batch_size(config_.train.batch_size);
  validation.stop_at = config_.train.stop_at;
  validation.patience = config_.train.early_stopping_patience;
  validation.group = group_;
  validator_ = std::make_unique<Validator>(*valid_, *objective_, validation);
  state_.best_metric = validator_->initial_best();

  schedule_.kind = config_.train.schedule;
  schedule_.peak_lr = config_.train.lr;
  schedule_.warmup_steps = config_.train.warmup_steps;
  schedule_.total_steps = total_steps_;
  schedule_.min_lr_ratio = config_.train.min_lr_ratio;
  step_options_.objective = objective_.get();
  step_options_.precision = config_.train.precision;
  step_options_.grad_clip = config_.train.grad_clip;
  step_options_.label_smoothing = config_.train.label_smoothing;
  step_options_.group = group_;

  if (resume_from) {
    const auto& c = *resume_from;
    torch::NoGradGuard no_grad;
    for (const auto& item : model_->named_parameters()) {
      auto it = c.model.find(item.key());
      if (it == c.model.end() || !it->second.sizes().equals(item.value().sizes()))
        throw CheckpointError("checkpoint has no parameter '" + item.key() + "' of shape " +
                              c10::str(item.value().sizes()));
      item.value().copy_(it->second);
    }
    // Buffers too: the pixel statistics of images were measured when the run started.
    for (const auto& item : model_->named_buffers()) {
      auto it = c.model.find(item.key());
      if (it == c.model.end() || !it->second.sizes().equals(item.value().sizes()))
        throw CheckpointError("checkpoint has no buffer '" + item.key() + "' of shape " +
                              c10::str(item.value().sizes()));
      item.value().copy_(it->second);
    }
    optimizer_->load_state(c.exp_avg, c.exp_avg_sq, c.optimizer_step);
    state_ = c.state;
    resume_batching(parse_config(c.config_yaml, "the checkpoint's stored config").train);
    if (state_.rng_state.numel() > 0) {
      auto generator = at::detail::getDefaultCPUGenerator();
      generator.set_state(state_.rng_state);
    }
  }
  if (group_ != nullptr && group_->world_size() > 1) {
    // Every rank starts from rank 0's parameters (they agree already, from the seed or the
    // checkpoint: this makes it so whatever happened). The ranks keep the same generator: each
    // step's dropout seed is drawn alike on all, and the masks follow the examples (run()).
    group_->broadcast(optimizer_->flat_params(), /*root=*/0, "the initial parameters");
  }
}

void Trainer::resume_batching(const TrainConfig& stored) {
  // The run resumes at batch `batch_in_epoch` of its epoch's batches, which train.batch_size
  // and train.bucket_batches cut: mid-epoch, other values would skip or repeat examples.
  const auto& now = config_.train;
  const bool bucketed_alike =
      stored.bucket_batches == now.bucket_batches &&
      (now.bucket_batches == 0 || stored.grad_accum_steps == now.grad_accum_steps);
  if (stored.batch_size == now.batch_size && bucketed_alike) return;
  const int64_t stored_batches = (train_->size() + stored.batch_size - 1) / stored.batch_size;
  if (state_.batch_in_epoch >= stored_batches) {  // the epoch was done: the next one starts anew
    state_.batch_in_epoch = batches_per_epoch_;
    return;
  }
  if (state_.batch_in_epoch == 0) return;
  throw ConfigError(fmt::format(
      "train.batch_size/train.bucket_batches: the checkpoint stopped after batch {} of {} of "
      "epoch {}, cut with batch_size={} and bucket_batches={} (grad_accum_steps={}); resuming "
      "with batch_size={} and bucket_batches={} (grad_accum_steps={}) would skip or repeat "
      "examples of that epoch. Resume with the run's values (change them from a checkpoint "
      "saved at the end of an epoch)",
      state_.batch_in_epoch, stored_batches, state_.epoch, stored.batch_size, stored.bucket_batches,
      stored.grad_accum_steps, now.batch_size, now.bucket_batches, now.grad_accum_steps));
}

Batch Trainer::local_batch(const std::vector<int64_t>& global, int64_t pad_to,
                           int64_t& first_row) const {
  first_row = 0;
  // Images are augmented here, each by its index in the split (data/augment.h), so the split of a
  // batch over ranks and micro-batches does not change what any image looks like.
  auto make = [&](const std::vector<int64_t>& indices) {
    Batch batch = train_->batch(indices, pad_to);
    if (train_->has_images())
      batch.src = augment_images(batch.src, indices, augment_, config_.run.seed, state_.epoch);
    return batch;
  };
  if (group_ == nullptr || group_->world_size() == 1) return make(global);
  // Contiguous shares, the first ones the larger: rank 0's is never empty.
  const auto n = static_cast<int64_t>(global.size());
  const int64_t world = group_->world_size(), rank = group_->rank();
  const int64_t begin = (rank * n + world - 1) / world, end = ((rank + 1) * n + world - 1) / world;
  first_row = begin;
  if (begin < end) return make(std::vector<int64_t>(global.begin() + begin, global.begin() + end));
  Batch empty;  // the rest of a final batch smaller than the world
  if (train_->has_images()) {
    auto shape = train_->images().sizes().vec();
    shape[0] = 0;
    empty.src = at::zeros(shape, at::kByte);  // (0, C, H, W)
  } else {
    empty.src = at::zeros({0, 1}, at::kLong);  // (0, 1)
  }
  empty.tgt =
      is_classification(vocabs_.task) ? at::zeros({0}, at::kLong) : at::zeros({0, 1}, at::kLong);
  empty.num_tokens = 0;
  return empty;
}

void Trainer::check_ranks_agree() {
  if (group_ == nullptr || group_->world_size() == 1) return;
  // Every rank applied the same summed gradients to the same parameters, so they must be equal
  // bit for bit: compare the CRC-32 of each rank's parameter bytes with rank 0's.
  const auto& params = optimizer_->flat_params();
  const uint32_t crc = crc32(params.data_ptr(), static_cast<size_t>(params.nbytes()));
  const auto own = at::tensor({static_cast<double>(crc)}, at::kDouble);  // (1)
  auto rank0 = own.clone();
  group_->broadcast(rank0, /*root=*/0, "rank 0's parameter checksum");
  auto differ = at::tensor({at::equal(own, rank0) ? 0.0 : 1.0}, at::kDouble);  // (1)
  group_->all_reduce_sum(differ, "the parameter check");
  if (differ.item<double>() > 0.0)
    throw DistributedError(
        fmt::format("rank {}: after step {} the parameters of {} rank(s) differ from rank 0's",
                    group_->rank(), state_.step, static_cast<int64_t>(differ.item<double>())));
  spdlog::info("[dist] parameters identical on all {} ranks after step {} (CRC-32 {:08x})",
               group_->world_size(), state_.step, crc);
}

bool Trainer::any_rank_stops(bool here, int64_t step) {
  if (group_ == nullptr || group_->world_size() == 1) return here;
  auto flag = at::tensor({here ? 1.0 : 0.0}, at::kDouble);  // (1)
  group_->all_reduce_sum(flag, "the stop flag of step " + std::to_string(step));
  return flag.item<double>() > 0.0;
}

std::vector<std::vector<int64_t>> Trainer::epoch_batches(int64_t epoch) const {
  BatchingOptions batching;
  batching.batch_size = config_.train.batch_size;
  // Buckets of the step's global batches: with grad_accum_steps K, a bucket of bucket_batches
  // steps holds the examples it would hold with K times the batch size and no accumulation.
  batching.bucket_batches = config_.train.bucket_batches * config_.train.grad_accum_steps;
  return make_batches(epoch_order(train_->size(), config_.run.seed, epoch), train_->lengths(),
                      batching);
}

Checkpoint Trainer::make_checkpoint() const {
  Checkpoint c;
  c.config_yaml = to_yaml(config_);
  for (const auto& item : model_->named_parameters()) c.model[item.key()] = item.value();
  for (const auto& item : model_->named_buffers()) c.model[item.key()] = item.value();
  c.exp_avg = optimizer_->exp_avg_by_name();
  c.exp_avg_sq = optimizer_->exp_avg_sq_by_name();
  c.optimizer_step = optimizer_->step_count();
  c.state = state_;
  c.state.rng_state = at::detail::getDefaultCPUGenerator().get_state();
  c.state.elapsed_s = elapsed_s();
  c.src_vocab = vocabs_.source.tokens();
  c.spm_model = vocabs_.tokenizer.sentencepiece_model();
  if (has_target_sequence(vocabs_.task))
    c.tgt_vocab = vocabs_.target.tokens();
  else
    c.labels = vocabs_.labels.labels();
  c.image_shape = vocabs_.image_shape;
  return c;
}

void Trainer::save(const std::string& file_name) {
  if (!writes_run_dir()) return;
  const auto path = (fs::path(run_dir_) / file_name).string();
  save_checkpoint(path, make_checkpoint());
  newest_saved_ = fmt::format("{} (step {})", path, state_.step);
  spdlog::info("[checkpoint] step={} wrote {}", state_.step, path);
}

void Trainer::prune_periodic_checkpoints() {
  if (!writes_run_dir()) return;
  static const std::regex kPeriodic(R"(step_(\d+)\.pt)");
  std::vector<std::pair<int64_t, fs::path>> periodic;
  for (const auto& entry : fs::directory_iterator(run_dir_)) {
    std::smatch m;
    const auto name = entry.path().filename().string();
    if (std::regex_match(name, m, kPeriodic)) periodic.emplace_back(std::stoll(m[1]), entry.path());
  }
  std::sort(periodic.begin(), periodic.end());
  const auto keep = static_cast<size_t>(config_.train.keep_last);
  for (size_t i = 0; i + keep < periodic.size(); ++i) fs::remove(periodic[i].second);
}

double Trainer::elapsed_s() const { return state_.elapsed_s + (now_s() - session_start_); }

std::string Trainer::validate(TrainingLog& log) {
  const auto v = validator_->validate(model_, config_.train.precision, state_);
  log.validation(state_, v, validator_->options(), elapsed_s());
  if (v.improved && writes_run_dir()) {
    save("best.pt");
    result_.best_checkpoint = (fs::path(run_dir_) / "best.pt").string();
  }
  if (v.reached_stop_at) result_.seconds_to_stop_at = elapsed_s();
  return v.stop_reason();
}

void Trainer::log_start(int64_t threads) const {
  if (train_->has_images()) {
    const auto& shape = vocabs_.image_shape;
    const auto patch = config_.model.patch_size;
    spdlog::info("[train] run_dir={} task={} train={} valid={} classes={}", run_dir_,
                 name_of(config_.data.task), train_->size(), valid_->size(), vocabs_.num_outputs());
    spdlog::info(
        "[train] images={}x{}x{} (CxHxW) patches={}x{} of {}x{} (+<cls> = {} positions) "
        "augment: crop_padding={} flip={}{}{}",
        shape[0], shape[1], shape[2], shape[1] / patch, shape[2] / patch, patch, patch,
        shape[1] / patch * (shape[2] / patch) + 1, augment_.crop_padding,
        augment_.flip ? "on" : "off", pixel_note_.empty() ? "" : "; ", pixel_note_);
  } else {
    spdlog::info("[train] run_dir={} task={} train={} valid={} vocab={} outputs={}", run_dir_,
                 name_of(config_.data.task), train_->size(), valid_->size(), vocabs_.source.size(),
                 vocabs_.num_outputs());
    spdlog::info("[train] tokenization={}{}", vocabs_.tokenizer.describe(), tokenizer_note_);
  }
  for (const Dataset* d : {train_.get(), valid_.get()})
    if (d->skipped() > 0)
      spdlog::warn("[train] skipped {} pairs of {} that do not fit (data.skip_unfit; first: {})",
                   d->skipped(), d->path(), d->first_skipped());
  spdlog::info("[train] params={} layers={} d_model={} heads={} threads={}",
               count_parameters(*model_), config_.model.num_layers, config_.model.d_model,
               config_.model.num_heads, threads);
  if (group_ != nullptr && group_->world_size() > 1)
    spdlog::info(
        "[dist] rank={} world={} ({} on this machine), gloo, {} threads per rank, "
        "timeout {} s; train.batch_size={} is the global batch, {} per rank",
        group_->rank(), group_->world_size(), group_->env().local_world_size, threads,
        config_.run.dist_timeout_s, config_.train.batch_size,
        config_.train.batch_size / group_->world_size());
  spdlog::info("[train] precision={} ({})", name_of(config_.train.precision), precision_reason_);
  if (!precision_warning_.empty()) spdlog::warn("[train] precision: {}", precision_warning_);
  const int64_t accum = config_.train.grad_accum_steps;
  spdlog::info("[train] steps={} ({} batches/epoch, batch_size={}{}){}", total_steps_,
               batches_per_epoch_, config_.train.batch_size,
               accum > 1
                   ? fmt::format(", grad_accum_steps={}: {} sequences per step, {} steps/epoch",
                                 accum, accum * config_.train.batch_size, steps_per_epoch_)
                   : std::string(),
               state_.step > 0 ? fmt::format(", resuming at step {}", state_.step) : std::string());
}

TrainResult Trainer::run() {
  if (writes_run_dir()) {
    fs::create_directories(run_dir_);
    // A resumed run whose directory went further (it resumes from an older checkpoint): the
    // later timeline is set aside before anything of this session is written.
    if (state_.step > 0) {
      const auto abandoned = set_aside_abandoned_timeline(run_dir_, state_.step);
      std::string moved;
      for (const auto& file : abandoned.moved) moved += (moved.empty() ? "" : ", ") + file;
      if (!abandoned.directory.empty())
        spdlog::warn(
            "[train] resuming at step {}: the run directory went further; moved {} "
            "(the abandoned later timeline) into {}",
            state_.step, moved, abandoned.directory);
    }
    const std::string yaml = to_yaml(config_);  // atomic: a kill mid-write keeps the old one
    write_file_atomically((fs::path(run_dir_) / "config.yaml").string(),
                          std::vector<char>(yaml.begin(), yaml.end()));
  }
  // The SentencePiece model, as its own file too (Python's sentencepiece opens it directly).
  if (writes_run_dir() && !vocabs_.tokenizer.sentencepiece_model().empty())
    write_file_atomically((fs::path(run_dir_) / "spm.model").string(),
                          std::vector<char>(vocabs_.tokenizer.sentencepiece_model().begin(),
                                            vocabs_.tokenizer.sentencepiece_model().end()));
  TrainingLogOptions log_options;
  if (writes_run_dir()) log_options.metrics_path = (fs::path(run_dir_) / "metrics.jsonl").string();
  log_options.objective = objective_.get();
  log_options.images = train_->has_images();
  log_options.interval = config_.log.interval;
  log_options.progress = config_.log.progress && ::isatty(STDERR_FILENO);
  TrainingLog log(log_options);
  // Under torchrun, 0 threads means this machine's cores shared by its ranks.
  const int64_t local_ranks = group_ != nullptr ? group_->env().local_world_size : 1;
  log_start(configure_threads(config_.run.threads > 0
                                  ? config_.run.threads
                                  : std::max<int64_t>(1, available_cores() / local_ranks)));

  StopRequestScope signals;  // SIGINT/SIGTERM: stop after the current step (runtime/stop_signals.h)
  session_start_ = now_s();
  session_first_step_ = state_.step;
  newest_saved_.clear();
  result_ = TrainResult{};
  model_->train();
  int64_t nonfinite_in_a_row = 0;
  std::string stop;  // why the loop ends early; "" while it goes on
  if (state_.step == 0 && hook_) hook_(model_, 0, false);
  auto order = epoch_batches(state_.epoch);
  while (state_.step < total_steps_ && stop.empty()) {
    if (state_.batch_in_epoch >= static_cast<int64_t>(order.size())) {
      ++state_.epoch;
      state_.batch_in_epoch = 0;
      order = epoch_batches(state_.epoch);
    }
    // This step's global batches: up to train.grad_accum_steps, within the epoch.
    const auto in_epoch = static_cast<int64_t>(order.size()) - state_.batch_in_epoch;
    std::vector<const std::vector<int64_t>*> globals;
    for (int64_t k = 0; k < std::min(config_.train.grad_accum_steps, in_epoch); ++k)
      globals.push_back(&order[static_cast<size_t>(state_.batch_in_epoch++)]);
    // Dropout follows the examples: one seed per step, drawn alike on every rank (empty shares
    // too), and every share padded to the step's longest source, so that any split of the step
    // over ranks and micro-batches draws the masks one process would draw for all of it.
    // (Without dropout the padding would only cost time: each share keeps its own length.)
    const uint64_t dropout_seed = draw_seed();
    const bool dropout = config_.model.dropout > 0.0 || config_.model.attention_dropout > 0.0;
    int64_t pad_to = 0;
    if (dropout)
      for (const auto* global : globals)
        for (const int64_t i : *global)
          pad_to = std::max(pad_to, train_->lengths()[static_cast<size_t>(i)]);
    // This rank's shares.
    std::vector<Batch> batches;
    std::vector<MicroBatch> micro_batches;
    int64_t rows_before = 0;  // of the step's global batches before this one
    for (const auto* global : globals) {
      int64_t first_row = 0;
      batches.push_back(local_batch(*global, pad_to, first_row));
      micro_batches.push_back({batches.back().src, batches.back().tgt, batches.back().num_tokens,
                               rows_before + first_row});
      rows_before += static_cast<int64_t>(global->size());
    }
    ++state_.step;
    const double lr = learning_rate(schedule_, state_.step);
    // Running accuracy and tokens/s in the log: this rank's share (rank 0's is what is logged).
    const auto outcome = train_step(
        model_, *optimizer_, micro_batches, lr, step_options_, state_.step,
        [&](size_t i, const at::Tensor& logits) { log.add_batch(batches[i], logits); },
        dropout_seed);
    const bool last = state_.step >= total_steps_;
    if (!outcome.applied) {
      // A skipped step is a step without an update: validation, signals and checkpoints below
      // happen as after any other (the weights are those of the last applied step).
      ++result_.skipped_steps;
      log.skipped_step(state_.step, outcome, ++nonfinite_in_a_row);
      if (nonfinite_in_a_row >= config_.train.max_nonfinite_steps)
        throw TrainingError(fmt::format(
            "training diverged: {} consecutive steps with a non-finite loss or gradient norm "
            "(train.max_nonfinite_steps={}); {}",
            nonfinite_in_a_row, config_.train.max_nonfinite_steps,
            newest_saved_.empty()
                ? fmt::format("no checkpoint was written since this session started at step {} "
                              "(train.checkpoint_interval={})",
                              session_first_step_, config_.train.checkpoint_interval)
                : "last checkpoint written: " + newest_saved_));
    } else {
      nonfinite_in_a_row = 0;
      state_.tokens_seen += outcome.units;  // the global batch's
      log.add_step(outcome);
      log.progress(state_.step, total_steps_, now_s() - session_start_, outcome.loss);
      log.end_of_step(state_, lr, elapsed_s(), last);
    }
    if (state_.step % config_.train.eval_interval == 0 || last) stop = validate(log);
    if (any_rank_stops(signals.received() != 0, state_.step) && stop.empty()) {
      log.clear_progress();
      spdlog::warn("[train] {}: stopping after step {}",
                   signals.received() ? "received signal " + std::to_string(signals.received())
                                      : std::string("another rank received a signal"),
                   state_.step);
      stop = "interrupted";
    }
    if (hook_) hook_(model_, state_.step, last || !stop.empty());
    if (state_.step % config_.train.checkpoint_interval == 0) {
      save(fmt::format("step_{:08d}.pt", state_.step));
      prune_periodic_checkpoints();
    }
  }
  log.clear_progress();
  save("last.pt");
  check_ranks_agree();  // after the save: a disagreement keeps rank 0's last state
  result_.stop_reason = stop.empty() ? "finished" : stop;
  result_.steps = state_.step;
  result_.best_metric = state_.best_metric;
  result_.best_step = state_.best_step;
  if (state_.best_step > 0) result_.best_checkpoint = (fs::path(run_dir_) / "best.pt").string();
  result_.seconds = now_s() - session_start_;
  spdlog::info("[train] done ({}) step={} best {}={:.4f} at step {} in {:.1f} s",
               result_.stop_reason, state_.step, best_metric_name(), state_.best_metric,
               state_.best_step, result_.seconds);
  return result_;
}

}  // namespace attnlab
