#include "train/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>
#include <torch/utils.h>

#include "data/tsv.h"
#include "io/json.h"
#include "runtime/clock.h"
#include "runtime/stop_signals.h"
#include "train/schedule.h"
#include "train/train_step.h"

namespace attnlab {
namespace {

namespace fs = std::filesystem;

bool lower_is_better(const std::string& metric) { return metric == "loss"; }

std::string format_duration(double s) {
  const auto total = static_cast<int64_t>(std::max(0.0, s));
  char buf[32];
  if (total >= 3600)
    std::snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", static_cast<long>(total / 3600),
                  static_cast<long>(total / 60 % 60), static_cast<long>(total % 60));
  else
    std::snprintf(buf, sizeof(buf), "%ld:%02ld", static_cast<long>(total / 60),
                  static_cast<long>(total % 60));
  return buf;
}

// One-line progress bar on stderr, redrawn at most ~10 times a second.
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled) {}
  void update(int64_t step, int64_t total, double elapsed, double loss) {
    if (!enabled_) return;
    const double t = now_s();
    if (t - last_draw_ < 0.1 && step < total) return;
    last_draw_ = t;
    constexpr int kWidth = 30;
    const double frac = total > 0 ? static_cast<double>(step) / static_cast<double>(total) : 0.0;
    const int filled = static_cast<int>(frac * kWidth);
    const double eta = frac > 0 ? elapsed * (1.0 - frac) / frac : 0.0;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "\r[%s] %ld/%ld loss=%.4f elapsed %s eta %s   ", bar.c_str(),
                 static_cast<long>(step), static_cast<long>(total), loss,
                 format_duration(elapsed).c_str(), format_duration(eta).c_str());
    std::fflush(stderr);
    drawn_ = true;
  }
  void clear() {
    if (!enabled_ || !drawn_) return;
    std::fprintf(stderr, "\r%*s\r", 100, "");
    drawn_ = false;
  }

 private:
  bool enabled_;
  bool drawn_ = false;
  double last_draw_ = 0.0;
};

}  // namespace

std::string run_directory(const Config& config) {
  return (fs::path(config.run.out_dir) / config.run.name).string();
}

Trainer::Trainer(Config config, std::optional<Checkpoint> resume_from)
    : config_(std::move(config)), run_dir_(run_directory(config_)) {
  precision_ = parse_precision(config_.train.precision);
  torch::manual_seed(config_.run.seed);

  // Data and vocabularies: from the training split for a new run, from the checkpoint when
  // resuming (so ids never shift under a trained model).
  auto train_examples = read_tsv(config_.data.train);
  vocabs_ = resume_from ? task_spec_from_lists(config_.data, resume_from->src_vocab,
                                                  resume_from->tgt_vocab, resume_from->labels)
                        : build_task_spec(config_.data, train_examples);
  train_ = std::make_unique<Dataset>(
      make_dataset(std::move(train_examples), config_.data.train, vocabs_));
  valid_ = std::make_unique<Dataset>(load_split(config_.data.valid, vocabs_));

  model_ = EncoderModel(make_model_options(config_, vocabs_));
  AdamWOptions adamw;
  adamw.lr = config_.train.lr;
  adamw.beta1 = config_.train.beta1;
  adamw.beta2 = config_.train.beta2;
  adamw.eps = config_.train.eps;
  adamw.weight_decay = config_.train.weight_decay;
  optimizer_ = std::make_unique<FlatAdamW>(*model_, adamw);

  batches_per_epoch_ = (train_->size() + config_.train.batch_size - 1) / config_.train.batch_size;
  total_steps_ = config_.train.max_steps > 0 ? config_.train.max_steps
                                             : config_.train.max_epochs * batches_per_epoch_;
  state_.best_metric = lower_is_better(best_metric_name()) ? INFINITY : -INFINITY;

  if (resume_from) {
    const auto& c = *resume_from;
    torch::NoGradGuard no_grad;
    for (const auto& item : model_->named_parameters()) {
      auto it = c.model.find(item.key());
      if (it == c.model.end() || !it->second.sizes().equals(item.value().sizes()))
        throw CheckpointError("checkpoint has no parameter '" + item.key() +
                              "' of shape " + c10::str(item.value().sizes()));
      item.value().copy_(it->second);
    }
    optimizer_->load_state(c.exp_avg, c.exp_avg_sq, c.optimizer_step);
    state_ = c.state;
    if (state_.rng_state.numel() > 0) {
      auto generator = at::detail::getDefaultCPUGenerator();
      generator.set_state(state_.rng_state);
    }
  }
}

Trainer::~Trainer() {
  if (metrics_file_) std::fclose(metrics_file_);
}

std::string Trainer::best_metric_name() const {
  if (config_.train.best_metric != "auto") return config_.train.best_metric;
  return vocabs_.task == TaskKind::kTransduction ? "exact_match" : "accuracy";
}

std::vector<std::vector<int64_t>> Trainer::epoch_batches(int64_t epoch) const {
  BatchingOptions batching;
  batching.batch_size = config_.train.batch_size;
  batching.bucket_batches = config_.train.bucket_batches;
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
  c.state.elapsed_s = state_.elapsed_s + (now_s() - session_start_);
  c.src_vocab = vocabs_.source.tokens();
  if (vocabs_.task == TaskKind::kTransduction)
    c.tgt_vocab = vocabs_.target.tokens();
  else
    c.labels = vocabs_.labels.labels();
  return c;
}

void Trainer::save(const std::string& file_name) {
  const auto path = (fs::path(run_dir_) / file_name).string();
  save_checkpoint(path, make_checkpoint());
  spdlog::info("[checkpoint] step={} wrote {}", state_.step, path);
}

void Trainer::prune_periodic_checkpoints() {
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

void Trainer::write_metrics(const std::string& json_line) {
  std::fprintf(metrics_file_, "%s\n", json_line.c_str());
  std::fflush(metrics_file_);
}

void Trainer::validate() {
  const auto eval = evaluate(model_, *valid_, vocabs_, std::max<int64_t>(config_.train.batch_size, 64),
                             precision_, 0);
  const auto metric_name = best_metric_name();
  const double value = eval.metric(metric_name);
  const bool improved = lower_is_better(metric_name) ? value < state_.best_metric : value > state_.best_metric;
  const double elapsed = state_.elapsed_s + (now_s() - session_start_);

  JsonWriter line;
  line.field("kind", "valid").field("step", state_.step).field("epoch", state_.epoch).field("loss", eval.loss)
      .field("accuracy", eval.accuracy()).field("elapsed_s", elapsed);
  if (vocabs_.task == TaskKind::kTransduction)
    line.field("exact_match", eval.transduction.exact_match());
  else
    line.field("macro_f1", eval.classification->macro_f1());
  write_metrics(line.str());

  spdlog::info("[valid] step={} loss={:.4f} acc={:.4f}{} best_{}={:.4f}{}", state_.step, eval.loss,
               eval.accuracy(),
               vocabs_.task == TaskKind::kTransduction
                   ? fmt::format(" exact={:.4f}", eval.transduction.exact_match())
                   : std::string(),
               metric_name, improved ? value : state_.best_metric, improved ? " (new best)" : "");
  if (improved) {
    state_.best_metric = value;
    state_.best_step = state_.step;
    state_.evals_without_improvement = 0;
    save("best.pt");
    result_.best_checkpoint = (fs::path(run_dir_) / "best.pt").string();
  } else {
    ++state_.evals_without_improvement;
  }
  const double stop_at = config_.train.stop_at;
  if (stop_at > 0.0 && (lower_is_better(metric_name) ? value <= stop_at : value >= stop_at)) {
    spdlog::info("[train] valid {}={:.4f} reached train.stop_at={} after {:.1f} s of training",
                 metric_name, value, stop_at, elapsed);
    result_.seconds_to_stop_at = elapsed;
    result_.stop_reason = "stop_at";
    stop_ = true;
  }
  const auto patience = config_.train.early_stopping_patience;
  if (patience > 0 && state_.evals_without_improvement >= patience) {
    spdlog::info("[train] early stopping: no improvement of {} in {} evaluations", metric_name,
                 patience);
    result_.stop_reason = "early_stopping";
    stop_ = true;
  }
}

TrainResult Trainer::run() {
  fs::create_directories(run_dir_);
  {
    std::ofstream out(fs::path(run_dir_) / "config.yaml");
    out << to_yaml(config_);
  }
  metrics_file_ = std::fopen((fs::path(run_dir_) / "metrics.jsonl").c_str(), "a");
  if (!metrics_file_) throw TrainingError("cannot open " + run_dir_ + "/metrics.jsonl");

  const int64_t threads = configure_threads(config_.run.threads);
  spdlog::info("[train] run_dir={} task={} train={} valid={} vocab={} outputs={}", run_dir_,
               config_.data.task, train_->size(), valid_->size(), vocabs_.source.size(),
               vocabs_.num_outputs());
  spdlog::info("[train] params={} layers={} d_model={} heads={} precision={} threads={}",
               count_parameters(*model_), config_.model.num_layers, config_.model.d_model,
               config_.model.num_heads, config_.train.precision, threads);
  spdlog::info("[train] steps={} ({} batches/epoch, batch_size={}){}", total_steps_,
               batches_per_epoch_, config_.train.batch_size,
               state_.step > 0 ? fmt::format(", resuming at step {}", state_.step) : std::string());

  ScheduleOptions schedule;
  schedule.kind = parse_schedule(config_.train.schedule);
  schedule.peak_lr = config_.train.lr;
  schedule.warmup_steps = config_.train.warmup_steps;
  schedule.total_steps = total_steps_;
  schedule.min_lr_ratio = config_.train.min_lr_ratio;

  StopRequestScope signals;  // SIGINT/SIGTERM: stop after the current step (runtime/stop_signals.h)
  ProgressBar progress(config_.log.progress && ::isatty(STDERR_FILENO));
  session_start_ = now_s();
  result_ = TrainResult{};
  result_.best_metric = state_.best_metric;
  result_.best_step = state_.best_step;
  stop_ = false;

  StepOptions step_options;
  step_options.task = vocabs_.task;
  step_options.precision = precision_;
  step_options.grad_clip = config_.train.grad_clip;
  step_options.label_smoothing = config_.train.label_smoothing;

  model_->train();
  int64_t consecutive_nonfinite = 0;
  double interval_loss = 0.0, interval_correct = 0.0, interval_count = 0.0;
  int64_t interval_tokens = 0, interval_steps = 0;
  double interval_start = now_s(), last_grad_norm = 0.0, last_loss = 0.0;

  if (state_.step == 0 && hook_) hook_(model_, 0, false);
  auto order = epoch_batches(state_.epoch);
  while (state_.step < total_steps_ && !stop_) {
    if (state_.batch_in_epoch >= static_cast<int64_t>(order.size())) {
      ++state_.epoch;
      state_.batch_in_epoch = 0;
      order = epoch_batches(state_.epoch);
    }
    const Batch batch = train_->batch(order[static_cast<size_t>(state_.batch_in_epoch)]);
    ++state_.batch_in_epoch;
    ++state_.step;
    const double lr = learning_rate(schedule, state_.step);

    const auto outcome = train_step(model_, *optimizer_, batch.src, batch.tgt, lr, step_options);
    const double loss_value = outcome.loss, grad_norm = outcome.grad_norm;
    if (!outcome.applied) {
      ++result_.skipped_steps;
      ++consecutive_nonfinite;
      spdlog::warn("[train] step={} non-finite loss={} grad_norm={}: step skipped ({} in a row)",
                   state_.step, loss_value, grad_norm, consecutive_nonfinite);
      write_metrics(JsonWriter().field("kind", "skipped").field("step", state_.step)
                        .field("loss", loss_value).field("grad_norm", grad_norm).str());
      if (consecutive_nonfinite >= config_.train.max_nonfinite_steps) {
        progress.clear();
        throw TrainingError(fmt::format(
            "training diverged: {} consecutive steps with a non-finite loss or gradient norm "
            "(train.max_nonfinite_steps={}); last good checkpoint: {}/last.pt",
            consecutive_nonfinite, config_.train.max_nonfinite_steps, run_dir_));
      }
      continue;
    }
    consecutive_nonfinite = 0;
    const auto& logits = outcome.logits;

    {
      torch::NoGradGuard no_grad;
      const auto predicted = predict_ids(logits.detach());
      const auto correct =
          vocabs_.task == TaskKind::kTransduction
              ? predicted.eq(batch.tgt).logical_and(batch.tgt.ne(Vocab::kPadId)).sum()
              : predicted.eq(batch.tgt).sum();
      interval_correct += correct.item<double>();
    }
    const int64_t units = vocabs_.task == TaskKind::kTransduction ? batch.num_tokens
                                                                  : batch.src.size(0);
    interval_loss += loss_value * static_cast<double>(units);
    interval_count += static_cast<double>(units);
    interval_tokens += batch.src.numel();
    state_.tokens_seen += batch.num_tokens;
    ++interval_steps;
    last_grad_norm = grad_norm;
    last_loss = loss_value;

    const double elapsed = now_s() - session_start_;
    progress.update(state_.step, total_steps_, elapsed, loss_value);
    const bool last = state_.step >= total_steps_;
    if (state_.step % config_.log.interval == 0 || last) {
      const double dt = std::max(1e-9, now_s() - interval_start);
      const double tok_s = static_cast<double>(interval_tokens) / dt;
      const double mean_loss = interval_loss / std::max(1.0, interval_count);
      const double accuracy = interval_correct / std::max(1.0, interval_count);
      progress.clear();
      spdlog::info("[train] step={} epoch={} loss={:.4f} acc={:.4f} lr={:.2e} gnorm={:.3f} "
                   "tok/s={:.0f} elapsed={}",
                   state_.step, state_.epoch, mean_loss, accuracy, lr, last_grad_norm, tok_s,
                   format_duration(state_.elapsed_s + elapsed));
      write_metrics(JsonWriter().field("kind", "train").field("step", state_.step)
                        .field("epoch", state_.epoch).field("loss", mean_loss)
                        .field("last_loss", last_loss).field("accuracy", accuracy)
                        .field("lr", lr).field("grad_norm", last_grad_norm)
                        .field("tokens_per_s", tok_s).field("steps", interval_steps)
                        .field("elapsed_s", state_.elapsed_s + elapsed).str());
      interval_loss = interval_correct = interval_count = 0.0;
      interval_tokens = interval_steps = 0;
      interval_start = now_s();
    }
    if (state_.step % config_.train.eval_interval == 0 || last) {
      progress.clear();
      validate();
    }
    if (signals.received() && !stop_) {
      progress.clear();
      spdlog::warn("[train] received signal {}: stopping after step {}", signals.received(),
                   state_.step);
      result_.stop_reason = "interrupted";
      stop_ = true;
    }
    if (hook_) hook_(model_, state_.step, last || stop_);
    if (state_.step % config_.train.checkpoint_interval == 0) {
      save(fmt::format("step_{:08d}.pt", state_.step));
      prune_periodic_checkpoints();
    }
  }
  progress.clear();
  save("last.pt");
  if (result_.stop_reason.empty()) result_.stop_reason = "finished";
  result_.steps = state_.step;
  result_.best_metric = state_.best_metric;
  result_.best_step = state_.best_step;
  if (state_.best_step > 0) result_.best_checkpoint = (fs::path(run_dir_) / "best.pt").string();
  result_.seconds = now_s() - session_start_;
  spdlog::info("[train] done ({}) step={} best {}={:.4f} at step {} in {:.1f} s", result_.stop_reason,
               state_.step, best_metric_name(), state_.best_metric, state_.best_step, result_.seconds);
  return result_;
}

}  // namespace attnlab
