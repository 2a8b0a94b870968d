#include "tasks/label_objective.h"

#include <ATen/ATen.h>
#include <torch/nn/functional/loss.h>

#include <cmath>
#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "data/tsv.h"
#include "tasks/accuracy_metrics.h"

namespace attnlab {
namespace {

class LabelMetrics final : public MetricsOf<ClassificationMetrics> {
 public:
  explicit LabelMetrics(LabelSet labels)
      : MetricsOf<ClassificationMetrics>(ClassificationMetrics(labels.size())),
        labels_(std::move(labels)) {}

  void add(const at::Tensor& logits, const Batch& batch, const std::vector<Decoded>&,
           const std::vector<std::string>&) override {
    counts.add(logits.argmax(-1), batch.tgt);
  }
  void add_unpredicted(const Example& example, const std::string& path) override {
    const int64_t label = labels_.find(example.target);
    if (label < 0)
      throw DataError(path + ":" + std::to_string(example.line) + ": unknown label '" +
                      example.target +
                      "' (a pair data.skip_unfit dropped); known labels: " + labels_.joined());
    counts.add_unpredicted(label);
  }
  double accuracy() const override { return counts.accuracy(); }
  double value(BestMetric metric) const override {
    if (metric == BestMetric::kAccuracy) return counts.accuracy();
    if (metric == BestMetric::kExactMatch)
      throw std::invalid_argument("exact_match is defined for transduction and translation only");
    throw std::invalid_argument(std::string(name_of(metric)) + " is defined for translation only");
  }
  std::vector<double> counters() const override {
    std::vector<double> c = {static_cast<double>(counts.total),
                             static_cast<double>(counts.correct)};
    for (const auto& row : counts.confusion)
      for (const int64_t cell : row) c.push_back(static_cast<double>(cell));
    for (const int64_t n : counts.unpredicted) c.push_back(static_cast<double>(n));
    return c;
  }
  void set_counters(const std::vector<double>& c) override {
    const size_t k = counts.confusion.size();
    TORCH_CHECK(c.size() == 2 + k * k + k, "LabelMetrics: ", 2 + k * k + k, " counters, got ",
                c.size());
    size_t at = 0;
    counts.total = std::llround(c[at++]);
    counts.correct = std::llround(c[at++]);
    for (auto& row : counts.confusion)
      for (int64_t& cell : row) cell = std::llround(c[at++]);
    for (int64_t& n : counts.unpredicted) n = std::llround(c[at++]);
  }
  void write_json(JsonWriter& j) const override {
    j.field("macro_f1", counts.macro_f1());
    std::ostringstream per_class;
    per_class << "{";
    const auto reports = counts.per_class(labels_.labels());
    for (size_t i = 0; i < reports.size(); ++i) {
      const auto& r = reports[i];
      per_class << (i ? ", " : "") << json_string(r.label) << ": "
                << JsonWriter()
                       .field("precision", r.precision)
                       .field("recall", r.recall)
                       .field("f1", r.f1)
                       .field("support", r.support)
                       .str();
    }
    per_class << "}";
    j.raw("per_class", per_class.str());
    std::ostringstream confusion;
    confusion << "[";
    for (size_t r = 0; r < counts.confusion.size(); ++r) {
      confusion << (r ? ", " : "") << "[";
      for (size_t c = 0; c < counts.confusion[r].size(); ++c)
        confusion << (c ? ", " : "") << counts.confusion[r][c];
      confusion << "]";
    }
    confusion << "]";
    j.raw("confusion", confusion.str());
    std::vector<std::string> quoted;
    for (const auto& l : labels_.labels()) quoted.push_back(json_string(l));
    j.raw("labels", "[" + join(quoted, ", ") + "]");
  }
  void write_log_fields(JsonWriter& j) const override { j.field("macro_f1", counts.macro_f1()); }
  std::string console_fields() const override { return ""; }
  std::string report(double loss, const std::string& coverage, const std::string&) const override {
    char buf[512];
    std::snprintf(buf, sizeof(buf), "loss %.4f   accuracy %.4f   macro F1 %.4f   (on %s)\n\n", loss,
                  counts.accuracy(), counts.macro_f1(), coverage.c_str());
    std::string out = buf;
    std::snprintf(buf, sizeof(buf), "%-16s %9s %9s %9s %9s\n", "class", "precision", "recall", "f1",
                  "support");
    out += buf;
    for (const auto& pc : counts.per_class(labels_.labels())) {
      std::snprintf(buf, sizeof(buf), "%-16s %9.4f %9.4f %9.4f %9ld\n", pc.label.c_str(),
                    pc.precision, pc.recall, pc.f1, static_cast<long>(pc.support));
      out += buf;
    }
    std::snprintf(buf, sizeof(buf), "\nconfusion matrix (rows = true, columns = predicted):\n%-16s",
                  "");
    out += buf;
    for (const auto& l : labels_.labels()) {
      std::snprintf(buf, sizeof(buf), " %10.10s", l.c_str());
      out += buf;
    }
    out += "\n";
    for (size_t i = 0; i < counts.confusion.size(); ++i) {
      std::snprintf(buf, sizeof(buf), "%-16.16s", labels_.label(static_cast<int64_t>(i)).c_str());
      out += buf;
      for (const int64_t v : counts.confusion[i]) {
        std::snprintf(buf, sizeof(buf), " %10ld", static_cast<long>(v));
        out += buf;
      }
      out += "\n";
    }
    return out;
  }

 private:
  LabelSet labels_;
};

}  // namespace

at::Tensor LabelObjective::loss(const ModelOutput& output, const at::Tensor& target,
                                double label_smoothing) const {
  namespace F = torch::nn::functional;
  return F::cross_entropy(output.logits.to(at::kFloat), target,  // (B, K) vs (B)
                          F::CrossEntropyFuncOptions().label_smoothing(label_smoothing));
}

std::vector<Decoded> LabelObjective::decode(const ModelOutput& output, const at::Tensor&,
                                            int64_t) const {
  const auto predicted = output.logits.argmax(-1).contiguous();  // (B)
  std::vector<Decoded> out(static_cast<size_t>(predicted.size(0)));
  for (int64_t row = 0; row < predicted.size(0); ++row) {
    const int64_t id = predicted.data_ptr<int64_t>()[row];
    out[static_cast<size_t>(row)] = {{id}, labels_.label(id)};
  }
  return out;
}

at::Tensor LabelObjective::row_logits(const ModelOutput& output, const at::Tensor&,
                                      int64_t row) const {
  return output.logits[row].unsqueeze(0);  // (1, K)
}

std::unique_ptr<Metrics> LabelObjective::new_metrics() const {
  return std::make_unique<LabelMetrics>(labels_);
}

RunningAccuracy LabelObjective::running_accuracy(const Batch& batch,
                                                 const at::Tensor& logits) const {
  return {logits.argmax(-1).eq(batch.tgt).sum().item<double>(),
          static_cast<double>(batch.src.size(0))};
}

}  // namespace attnlab
