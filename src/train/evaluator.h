#pragma once
// Evaluation of a model on a dataset through the task's objective (tasks/objective.h): the
// loss, the objective's metrics (tasks/metrics.h) and a few decoded samples.

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "model/encoder_model.h"
#include "runtime/process_group.h"
#include "tasks/metrics.h"
#include "tasks/objective.h"
#include "tasks/task_spec.h"
#include "train/precision.h"

namespace attnlab {

struct SamplePrediction {
  std::string input;
  std::string target;
  std::string predicted;
  bool correct = false;
};

struct EvalResult {
  int64_t examples = 0;                 // scored (with scored_skipped: the skipped pairs included)
  int64_t skipped = 0;                  // pairs of the split data.skip_unfit dropped
  int64_t split_examples = 0;           // pairs in the split: kept + skipped
  bool scored_skipped = false;          // the skipped pairs were scored as empty outputs
  std::string examples_noun = "pairs";  // "pairs" or "examples" (Objective::examples_noun)
  double loss = 0.0;                    // mean per target token / example
  double loss_sum = 0.0;                // loss x units, summed
  int64_t loss_units = 0;               // target tokens / examples
  std::shared_ptr<Metrics> metrics;     // the objective's
  std::vector<SamplePrediction> samples;  // first few examples

  // Token accuracy (transduction), exact match (translation) or accuracy (classification).
  double accuracy() const { return metrics->accuracy(); }
  // Value of a resolved train.best_metric (not kAuto): the loss, or the objective's metric;
  // std::invalid_argument for one the task does not have.
  double metric(BestMetric metric) const;
  // The counters behind the metrics, as their plain struct (TransductionMetrics,
  // TranslationMetrics or ClassificationMetrics); std::logic_error for another task's.
  template <class Counts>
  const Counts& counts() const {
    const auto* m = dynamic_cast<const MetricsOf<Counts>*>(metrics.get());
    if (!m) throw std::logic_error("EvalResult::counts: these are another task's metrics");
    return m->counts;
  }
  // {"examples":..,"skipped":..,"split_examples":..,"scored_skipped":..,"loss":..,
  // "accuracy":.., the objective's fields, "samples":[..]}
  std::string to_json() const;
  // "400 pairs", "397 of 400 pairs (3 skipped by data.skip_unfit)" or "400 pairs (3 skipped by
  // data.skip_unfit, scored as empty output)": what a printed metric is over.
  std::string coverage() const;
};

// Which part of a dataset one of `count` evaluators takes: the contiguous examples
// [index * n / count, (index + 1) * n / count).
struct EvalShard {
  int64_t index = 0;
  int64_t count = 1;
};

// Runs the model in eval mode under NoGradGuard (restoring train mode after) and scores it
// with `objective`; `beam` > 1 asks for its beam search (CTC). With a `shard`, only its
// examples (sum_over_ranks then adds up the ranks' counts). With `score_skipped` (one shard
// only), the pairs data.skip_unfit dropped count as empty outputs (Metrics::add_unpredicted);
// the loss stays over the scored examples, which have logits.
EvalResult evaluate(EncoderModel& model, const Dataset& data, const Objective& objective,
                    int64_t batch_size, Precision precision, int64_t num_samples, int64_t beam = 1,
                    EvalShard shard = {}, bool score_skipped = false);
// The same with the objective of `spec` (tasks/registry.h).
EvalResult evaluate(EncoderModel& model, const Dataset& data, const TaskSpec& spec,
                    int64_t batch_size, Precision precision, int64_t num_samples, int64_t beam = 1,
                    EvalShard shard = {}, bool score_skipped = false);

// Data-parallel validation: adds every rank's counts (examples, loss sum and units, and the
// metrics' counters) into `result` on every rank, in one all-reduce, so that each rank holds
// the metrics of the whole dataset. Samples stay each rank's own.
void sum_over_ranks(EvalResult& result, ProcessGroup& group, const std::string& what);

}  // namespace attnlab
