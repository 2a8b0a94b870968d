#pragma once
// Evaluation metrics, as plain counters fed with predictions, so they can be tested on
// hand-made predictions without a model.

#include <ATen/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace attnlab {

// Token accuracy and whole-sequence exact match for transduction.
struct TransductionMetrics {
  int64_t tokens = 0;           // non-pad target tokens seen
  int64_t correct_tokens = 0;   // of which predicted correctly
  int64_t sequences = 0;        // sequences seen
  int64_t exact_sequences = 0;  // sequences with every token correct

  // predicted, target: (B, T) int64; positions where target == pad_id are ignored.
  void add(const at::Tensor& predicted, const at::Tensor& target, int64_t pad_id);
  double token_accuracy() const;
  double exact_match() const;
};

struct ClassReport {
  std::string label;
  double precision = 0.0;
  double recall = 0.0;
  double f1 = 0.0;
  int64_t support = 0;  // true examples of this class
};

// Accuracy, confusion matrix (rows = true class, columns = predicted), per-class P/R/F1.
struct ClassificationMetrics {
  explicit ClassificationMetrics(int64_t num_classes);

  // predicted, target: (B) int64 class ids.
  void add(const at::Tensor& predicted, const at::Tensor& target);
  double accuracy() const;
  double macro_f1() const;
  std::vector<ClassReport> per_class(const std::vector<std::string>& labels) const;

  // An example of class `true_class` with no prediction (eval --score-skipped: a pair
  // data.skip_unfit dropped): wrong, and in that class's support.
  void add_unpredicted(int64_t true_class);

  std::vector<std::vector<int64_t>> confusion;
  std::vector<int64_t> unpredicted;  // per true class: examples without a prediction
  int64_t total = 0;
  int64_t correct = 0;
};

}  // namespace attnlab
