#include "train/training_log.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>
#include <torch/utils.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "data/vocab.h"
#include "io/json.h"
#include "runtime/clock.h"
#include "train/evaluator.h"

namespace attnlab {
namespace {

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

}  // namespace

TrainingLog::TrainingLog(TrainingLogOptions options) : options_(std::move(options)) {
  interval_start_ = now_s();
  if (options_.metrics_path.empty()) return;  // a rank other than 0: the console only
  metrics_ = std::fopen(options_.metrics_path.c_str(), "a");
  if (!metrics_)
    throw std::runtime_error("cannot open " + options_.metrics_path + ": " + std::strerror(errno));
}

TrainingLog::~TrainingLog() {
  clear_progress();
  if (metrics_) std::fclose(metrics_);
}

void TrainingLog::write(const std::string& json_line) {
  if (!metrics_) return;
  std::fprintf(metrics_, "%s\n", json_line.c_str());
  std::fflush(metrics_);
}

void TrainingLog::add_batch(const Batch& batch, const at::Tensor& logits) {
  {
    torch::NoGradGuard no_grad;
    const auto accuracy = options_.objective->running_accuracy(batch, logits);
    pending_.correct += accuracy.correct;
    pending_.accuracy_units += accuracy.units;
  }
  pending_.units += static_cast<double>(options_.objective->loss_units(batch));
  // Images: images (tokens would count pixels).
  pending_.tokens += options_.images ? batch.src.size(0) : batch.src.numel();
}

void TrainingLog::add_step(const StepResult& step) {
  loss_sum_ += step.loss * pending_.units;
  units_ += pending_.units;
  correct_ += pending_.correct;
  accuracy_units_ += pending_.accuracy_units;
  tokens_ += pending_.tokens;
  pending_ = PendingStep{};
  ++steps_;
  last_loss_ = step.loss;
  last_grad_norm_ = step.grad_norm;
}

void TrainingLog::skipped_step(int64_t step, const StepResult& result, int64_t in_a_row) {
  pending_ = PendingStep{};  // its batches count for nothing
  clear_progress();
  spdlog::warn("[train] step={} non-finite loss={} grad_norm={}: step skipped ({} in a row)", step,
               result.loss, result.grad_norm, in_a_row);
  write(JsonWriter()
            .field("kind", "skipped")
            .field("step", step)
            .field("loss", result.loss)
            .field("grad_norm", result.grad_norm)
            .str());
}

void TrainingLog::end_of_step(const TrainingState& state, double lr, double elapsed_s, bool last) {
  if (state.step % options_.interval != 0 && !last) return;
  const double dt = std::max(1e-9, now_s() - interval_start_);
  const double tok_s = static_cast<double>(tokens_) / dt;
  const double mean_loss = loss_sum_ / std::max(1.0, units_);
  const double accuracy = correct_ / std::max(1.0, accuracy_units_);
  clear_progress();
  spdlog::info(
      "[train] step={} epoch={} loss={:.4f} acc={:.4f} lr={:.2e} gnorm={:.3f} "
      "{}={:.0f} elapsed={}",
      state.step, state.epoch, mean_loss, accuracy, lr, last_grad_norm_,
      options_.images ? "img/s" : "tok/s", tok_s, format_duration(elapsed_s));
  write(JsonWriter()
            .field("kind", "train")
            .field("step", state.step)
            .field("epoch", state.epoch)
            .field("loss", mean_loss)
            .field("last_loss", last_loss_)
            .field("accuracy", accuracy)
            .field("lr", lr)
            .field("grad_norm", last_grad_norm_)
            .field(options_.images ? "images_per_s" : "tokens_per_s", tok_s)
            .field("steps", steps_)
            .field("elapsed_s", elapsed_s)
            .str());
  loss_sum_ = correct_ = units_ = accuracy_units_ = 0.0;
  tokens_ = steps_ = 0;
  interval_start_ = now_s();
}

void TrainingLog::validation(const TrainingState& state, const Validation& v,
                             const ValidatorOptions& rules, double elapsed_s) {
  const char* metric = name_of(rules.metric);
  clear_progress();
  JsonWriter line;
  line.field("kind", "valid")
      .field("step", state.step)
      .field("epoch", state.epoch)
      .field("loss", v.eval.loss)
      .field("accuracy", v.eval.accuracy())
      .field("elapsed_s", elapsed_s)
      .field("examples", v.eval.examples)
      .field("skipped", v.eval.skipped)
      .field("split_examples", v.eval.split_examples);
  v.eval.metrics->write_log_fields(line);
  write(line.str());

  // `state` already holds the new best when v.improved.
  const std::string extra = v.eval.metrics->console_fields();
  spdlog::info("[valid] step={} loss={:.4f} acc={:.4f}{} best_{}={:.4f}{}", state.step, v.eval.loss,
               v.eval.accuracy(), extra, metric, state.best_metric,
               v.improved ? " (new best)" : "");
  if (v.reached_stop_at)
    spdlog::info("[train] valid {}={:.4f} reached train.stop_at={} after {:.1f} s of training",
                 metric, v.value, rules.stop_at, elapsed_s);
  if (v.out_of_patience)
    spdlog::info("[train] early stopping: no improvement of {} in {} evaluations", metric,
                 rules.patience);
}

void TrainingLog::progress(int64_t step, int64_t total, double session_s, double loss) {
  if (!options_.progress) return;
  const double t = now_s();
  if (t - last_draw_ < 0.1 && step < total) return;
  last_draw_ = t;
  constexpr int kWidth = 30;
  const double frac = total > 0 ? static_cast<double>(step) / static_cast<double>(total) : 0.0;
  const int filled = static_cast<int>(frac * kWidth);
  const double eta = frac > 0 ? session_s * (1.0 - frac) / frac : 0.0;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(kWidth, '.');
  std::fprintf(stderr, "\r[%s] %ld/%ld loss=%.4f elapsed %s eta %s   ", bar.c_str(),
               static_cast<long>(step), static_cast<long>(total), loss,
               format_duration(session_s).c_str(), format_duration(eta).c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void TrainingLog::clear_progress() {
  if (!options_.progress || !drawn_) return;
  std::fprintf(stderr, "\r%*s\r", 100, "");
  drawn_ = false;
}

}  // namespace attnlab
