#include "train/training_log.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>
#include <torch/utils.h>

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
  metrics_ = std::fopen(options_.metrics_path.c_str(), "a");
  if (!metrics_)
    throw std::runtime_error("cannot open " + options_.metrics_path + ": " + std::strerror(errno));
  interval_start_ = now_s();
}

TrainingLog::~TrainingLog() {
  clear_progress();
  if (metrics_) std::fclose(metrics_);
}

void TrainingLog::write(const std::string& json_line) {
  std::fprintf(metrics_, "%s\n", json_line.c_str());
  std::fflush(metrics_);
}

void TrainingLog::add_step(const Batch& batch, const StepResult& step) {
  const bool transduction = options_.task == TaskKind::kTransduction;
  {
    torch::NoGradGuard no_grad;
    const auto predicted = predict_ids(step.logits.detach());
    const auto correct = transduction
                             ? predicted.eq(batch.tgt).logical_and(batch.tgt.ne(Vocab::kPadId)).sum()
                             : predicted.eq(batch.tgt).sum();
    correct_ += correct.item<double>();
  }
  // Loss and accuracy are per target token (transduction) or per example (classification).
  const auto units = static_cast<double>(transduction ? batch.num_tokens : batch.src.size(0));
  loss_sum_ += step.loss * units;
  units_ += units;
  tokens_ += batch.src.numel();
  ++steps_;
  last_loss_ = step.loss;
  last_grad_norm_ = step.grad_norm;
}

void TrainingLog::skipped_step(int64_t step, const StepResult& result, int64_t in_a_row) {
  clear_progress();
  spdlog::warn("[train] step={} non-finite loss={} grad_norm={}: step skipped ({} in a row)", step,
               result.loss, result.grad_norm, in_a_row);
  write(JsonWriter().field("kind", "skipped").field("step", step).field("loss", result.loss)
            .field("grad_norm", result.grad_norm).str());
}

void TrainingLog::end_of_step(const TrainingState& state, double lr, double elapsed_s, bool last) {
  if (state.step % options_.interval != 0 && !last) return;
  const double dt = std::max(1e-9, now_s() - interval_start_);
  const double tok_s = static_cast<double>(tokens_) / dt;
  const double mean_loss = loss_sum_ / std::max(1.0, units_);
  const double accuracy = correct_ / std::max(1.0, units_);
  clear_progress();
  spdlog::info("[train] step={} epoch={} loss={:.4f} acc={:.4f} lr={:.2e} gnorm={:.3f} "
               "tok/s={:.0f} elapsed={}",
               state.step, state.epoch, mean_loss, accuracy, lr, last_grad_norm_, tok_s,
               format_duration(elapsed_s));
  write(JsonWriter().field("kind", "train").field("step", state.step).field("epoch", state.epoch)
            .field("loss", mean_loss).field("last_loss", last_loss_).field("accuracy", accuracy)
            .field("lr", lr).field("grad_norm", last_grad_norm_).field("tokens_per_s", tok_s)
            .field("steps", steps_).field("elapsed_s", elapsed_s).str());
  loss_sum_ = correct_ = units_ = 0.0;
  tokens_ = steps_ = 0;
  interval_start_ = now_s();
}

void TrainingLog::validation(const TrainingState& state, const Validation& v,
                             const ValidatorOptions& rules, double elapsed_s) {
  const char* metric = name_of(rules.metric);
  clear_progress();
  const bool transduction = options_.task == TaskKind::kTransduction;
  JsonWriter line;
  line.field("kind", "valid").field("step", state.step).field("epoch", state.epoch)
      .field("loss", v.eval.loss).field("accuracy", v.eval.accuracy()).field("elapsed_s", elapsed_s);
  if (transduction)
    line.field("exact_match", v.eval.transduction.exact_match());
  else
    line.field("macro_f1", v.eval.classification->macro_f1());
  write(line.str());

  // `state` already holds the new best when v.improved.
  spdlog::info("[valid] step={} loss={:.4f} acc={:.4f}{} best_{}={:.4f}{}", state.step, v.eval.loss,
               v.eval.accuracy(),
               transduction ? fmt::format(" exact={:.4f}", v.eval.transduction.exact_match())
                            : std::string(),
               metric, state.best_metric, v.improved ? " (new best)" : "");
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
