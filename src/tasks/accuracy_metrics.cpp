#include "tasks/accuracy_metrics.h"

#include <ATen/ATen.h>

namespace attnlab {

void TransductionMetrics::add(const at::Tensor& predicted, const at::Tensor& target,
                              int64_t pad_id) {
  TORCH_CHECK(predicted.sizes() == target.sizes(), "predicted ", predicted.sizes(), " and target ",
              target.sizes(), " differ in shape");
  auto valid = target.ne(pad_id);                        // (B, T)
  auto wrong = predicted.ne(target).logical_and(valid);  // (B, T)
  tokens += valid.sum().item<int64_t>();
  correct_tokens += valid.logical_and(predicted.eq(target)).sum().item<int64_t>();
  sequences += target.size(0);
  exact_sequences += wrong.any(/*dim=*/1).logical_not().sum().item<int64_t>();
}

double TransductionMetrics::token_accuracy() const {
  return tokens ? static_cast<double>(correct_tokens) / static_cast<double>(tokens) : 0.0;
}

double TransductionMetrics::exact_match() const {
  return sequences ? static_cast<double>(exact_sequences) / static_cast<double>(sequences) : 0.0;
}

ClassificationMetrics::ClassificationMetrics(int64_t num_classes)
    : confusion(static_cast<size_t>(num_classes), std::vector<int64_t>(num_classes, 0)),
      unpredicted(static_cast<size_t>(num_classes), 0) {}

void ClassificationMetrics::add(const at::Tensor& predicted, const at::Tensor& target) {
  TORCH_CHECK(predicted.dim() == 1 && predicted.sizes() == target.sizes(),
              "predicted and target must be (B), got ", predicted.sizes(), " and ", target.sizes());
  auto p = predicted.contiguous(), t = target.contiguous();
  const auto* pp = p.data_ptr<int64_t>();
  const auto* tp = t.data_ptr<int64_t>();
  const auto n = static_cast<int64_t>(confusion.size());
  for (int64_t i = 0; i < p.numel(); ++i) {
    TORCH_CHECK(pp[i] >= 0 && pp[i] < n && tp[i] >= 0 && tp[i] < n, "class id out of range");
    ++confusion[tp[i]][pp[i]];
    ++total;
    if (pp[i] == tp[i]) ++correct;
  }
}

void ClassificationMetrics::add_unpredicted(int64_t true_class) {
  TORCH_CHECK(true_class >= 0 && true_class < static_cast<int64_t>(confusion.size()),
              "add_unpredicted: class ", true_class, " of ", confusion.size());
  ++unpredicted[static_cast<size_t>(true_class)];
  ++total;
}

double ClassificationMetrics::accuracy() const {
  return total ? static_cast<double>(correct) / static_cast<double>(total) : 0.0;
}

std::vector<ClassReport> ClassificationMetrics::per_class(
    const std::vector<std::string>& labels) const {
  std::vector<ClassReport> out;
  const size_t n = confusion.size();
  for (size_t c = 0; c < n; ++c) {
    int64_t tp = confusion[c][c], predicted = 0, actual = 0;
    for (size_t k = 0; k < n; ++k) {
      predicted += confusion[k][c];
      actual += confusion[c][k];
    }
    actual += unpredicted[c];
    ClassReport r;
    r.label = c < labels.size() ? labels[c] : std::to_string(c);
    r.support = actual;
    r.precision = predicted ? static_cast<double>(tp) / static_cast<double>(predicted) : 0.0;
    r.recall = actual ? static_cast<double>(tp) / static_cast<double>(actual) : 0.0;
    r.f1 =
        (r.precision + r.recall) > 0 ? 2 * r.precision * r.recall / (r.precision + r.recall) : 0.0;
    out.push_back(r);
  }
  return out;
}

double ClassificationMetrics::macro_f1() const {
  const auto reports = per_class({});
  if (reports.empty()) return 0.0;
  double sum = 0.0;
  for (const auto& r : reports) sum += r.f1;
  return sum / static_cast<double>(reports.size());
}

}  // namespace attnlab
