#include "train/validator.h"

#include <algorithm>
#include <cmath>

namespace attnlab {

BestMetric resolve_best_metric(BestMetric configured, const Objective& objective) {
  return configured != BestMetric::kAuto ? configured : objective.default_best_metric();
}

int64_t validation_batch_size(int64_t train_batch_size) {
  return std::max<int64_t>(train_batch_size, 64);
}

Validator::Validator(const Dataset& data, const Objective& objective, ValidatorOptions options)
    : data_(data), objective_(objective), options_(options) {
  TORCH_CHECK(options_.metric != BestMetric::kAuto, "Validator: resolve train.best_metric first");
}

double Validator::initial_best() const { return lower_is_better() ? INFINITY : -INFINITY; }

Validation Validator::validate(EncoderModel& model, Precision precision,
                               TrainingState& state) const {
  Validation v;
  ProcessGroup* group = options_.group;
  const bool sharded = group != nullptr && group->world_size() > 1;
  const EvalShard shard = sharded ? EvalShard{group->rank(), group->world_size()} : EvalShard{};
  v.eval = evaluate(model, data_, objective_, options_.batch_size, precision, /*num_samples=*/0,
                    /*beam=*/1, shard);
  if (sharded)
    sum_over_ranks(v.eval, *group, "the validation counts of step " + std::to_string(state.step));
  v.value = v.eval.metric(options_.metric);
  v.improved = lower_is_better() ? v.value < state.best_metric : v.value > state.best_metric;
  if (v.improved) {
    state.best_metric = v.value;
    state.best_step = state.step;
    state.evals_without_improvement = 0;
  } else {
    ++state.evals_without_improvement;
  }
  const double stop_at = options_.stop_at;
  v.reached_stop_at =
      stop_at > 0.0 && (lower_is_better() ? v.value <= stop_at : v.value >= stop_at);
  v.out_of_patience = options_.patience > 0 && state.evals_without_improvement >= options_.patience;
  return v;
}

std::string Validation::stop_reason() const {
  if (out_of_patience) return "early_stopping";
  if (reached_stop_at) return "stop_at";
  return "";
}

}  // namespace attnlab
