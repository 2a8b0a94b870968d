#pragma once
// Loss and evaluation of a model on a dataset: loss, token accuracy and exact match
// (transduction), exact match, BLEU and chrF of greedy CTC decoding (translation), or
// accuracy, per-class P/R/F1 and confusion matrix (classification).

#include <ATen/Tensor.h>

#include <optional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "model/encoder_model.h"
#include "runtime/process_group.h"
#include "train/metrics.h"
#include "train/precision.h"
#include "train/run_data.h"
#include "train/translation_metrics.h"

namespace attnlab {

// The training loss in fp32. Transduction: cross-entropy, logits (B, T, V), target (B, T),
// pad ignored. Classification: cross-entropy, logits (B, K), target (B). Translation: CTC
// (train/ctc.h) per target token, logits (B, T', V), target (B, S), output_lengths (B) from
// ModelOutput::lengths; label smoothing does not apply to it.
at::Tensor task_loss(const at::Tensor& logits, const at::Tensor& target, TaskKind task,
                     double label_smoothing = 0.0, const at::Tensor& output_lengths = {});

struct SamplePrediction {
  std::string input;
  std::string target;
  std::string predicted;
  bool correct = false;
};

struct EvalResult {
  TaskKind task = TaskKind::kTransduction;
  int64_t examples = 0;              // scored (with scored_skipped: the skipped pairs included)
  int64_t skipped = 0;               // pairs of the split data.skip_unfit dropped
  int64_t split_examples = 0;        // pairs in the split: kept + skipped
  bool scored_skipped = false;       // the skipped pairs were scored as empty outputs
  double loss = 0.0;                 // mean per target token / example
  double loss_sum = 0.0;             // loss x units, summed
  int64_t loss_units = 0;            // target tokens / examples
  TransductionMetrics transduction;  // transduction only
  TranslationMetrics translation;    // translation only
  std::optional<ClassificationMetrics> classification;  // classification only
  std::vector<SamplePrediction> samples;                // first few examples

  // Token accuracy (transduction), exact match (translation: its outputs have no per-token
  // alignment to score) or classification accuracy.
  double accuracy() const;
  double exact_match() const;  // transduction and translation; throws for classification
  // Value of a resolved train.best_metric (not kAuto): loss, accuracy, exact_match, or (for
  // translation) bleu and chrf on their 0..100 scale.
  double metric(BestMetric metric) const;
  // {"examples":..,"skipped":..,"split_examples":..,"loss":..,"accuracy":..,...} or with
  // per_class and confusion.
  std::string to_json(const std::vector<std::string>& labels) const;
  // "400 examples", "397 of 400 examples (3 skipped)" or "400 examples (3 skipped, scored as
  // empty output)": what a printed metric is over.
  std::string coverage() const;
};

// Decodes output ids to text with the run's tokenizer (Tokenizer::detokenize).
std::string decode(const std::vector<int64_t>& ids, const Vocab& vocab, const Tokenizer& tokenizer);

// Which part of a dataset one of `count` evaluators takes: the contiguous examples
// [index * n / count, (index + 1) * n / count).
struct EvalShard {
  int64_t index = 0;
  int64_t count = 1;
};

// Runs the model in eval mode under NoGradGuard (restoring train mode after). Translation
// decodes greedily, or with a CTC prefix beam search of width `beam` when beam > 1. With a
// `shard`, only its examples (sum_over_ranks then adds up the ranks' counts). With
// `score_skipped` (one shard only), the pairs data.skip_unfit dropped count as empty outputs:
// every target token wrong (transduction), an empty hypothesis (translation), no class
// (classification); the loss stays over the scored examples, which have logits.
EvalResult evaluate(EncoderModel& model, const Dataset& data, const TaskSpec& vocabs,
                    int64_t batch_size, Precision precision, int64_t num_samples, int64_t beam = 1,
                    EvalShard shard = {}, bool score_skipped = false);

// Data-parallel validation: adds every rank's counts (examples, loss sum and units, and the
// task's metric counters) into `result` on every rank, in one all-reduce, so that each rank
// holds the metrics of the whole dataset. Samples stay each rank's own.
void sum_over_ranks(EvalResult& result, ProcessGroup& group, const std::string& what);

// Argmax predictions: (B, T) for transduction, (B) for classification.
at::Tensor predict_ids(const at::Tensor& logits);

}  // namespace attnlab
