#pragma once
// The metrics of one evaluation, behind one interface whatever the task: fed batch by batch,
// summed across data-parallel ranks as a flat list of counters, written as eval's JSON, as the
// fields of a validation line in metrics.jsonl, and as eval's text report. Each objective
// (tasks/objective.h) makes its own (tasks/per_token_objective.h, ctc_objective.h,
// label_objective.h); docs/training.md lists what each reports.

#include <ATen/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "config/enums.h"
#include "data/dataset.h"
#include "io/json.h"

namespace attnlab {

struct Decoded;

class Metrics {
 public:
  virtual ~Metrics() = default;

  // One evaluated batch: its float logits (B, ...), the batch, each row's decoded prediction
  // and each row's reference as the objective scores it (Objective::reference_text).
  virtual void add(const at::Tensor& logits, const Batch& batch,
                   const std::vector<Decoded>& predictions,
                   const std::vector<std::string>& references) = 0;
  // A pair data.skip_unfit dropped, scored as an empty output or no prediction (eval
  // --score-skipped): `example` as read; throws DataError naming `path` for what cannot be scored.
  virtual void add_unpredicted(const Example& example, const std::string& path) = 0;

  // Token accuracy (per-token labels), exact match (CTC) or accuracy (labels).
  virtual double accuracy() const = 0;
  // A resolved train.best_metric other than loss; std::invalid_argument for one the task lacks.
  virtual double value(BestMetric metric) const = 0;

  // Every counter, in a fixed order, as doubles (exact below 2^53): the data-parallel sum adds
  // these element by element, then set_counters puts the sums back.
  virtual std::vector<double> counters() const = 0;
  virtual void set_counters(const std::vector<double>& counters) = 0;

  // eval's JSON fields after "accuracy", in order.
  virtual void write_json(JsonWriter& json) const = 0;
  // The fields a validation line of metrics.jsonl carries after "split_examples".
  virtual void write_log_fields(JsonWriter& json) const = 0;
  // What a [valid] console line shows after "acc=...": " exact=0.9375 bleu=..." or "".
  virtual std::string console_fields() const = 0;
  // eval's text report: its headline (with `loss` and `coverage`: "on 397 of 400 pairs (3
  // skipped ...)") and what follows it, each line ending in '\n'. `decoding` names the
  // decoding where the task has a choice ("greedy CTC", "CTC beam 4").
  virtual std::string report(double loss, const std::string& coverage,
                             const std::string& decoding) const = 0;
};

// A Metrics whose counters are the plain struct `Counts` (TransductionMetrics,
// TranslationMetrics, ClassificationMetrics), which tests and callers may read directly
// (EvalResult::counts).
template <class Counts>
class MetricsOf : public Metrics {
 public:
  explicit MetricsOf(Counts counts) : counts(std::move(counts)) {}
  Counts counts;
};

}  // namespace attnlab
