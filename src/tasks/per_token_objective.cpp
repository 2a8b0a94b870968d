#include "tasks/per_token_objective.h"

#include <ATen/ATen.h>
#include <torch/nn/functional/loss.h>

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "tasks/accuracy_metrics.h"

namespace attnlab {
namespace {

// The non-pad length of each row of input (B, T).
int64_t row_length(const at::Tensor& input, int64_t row) {
  return input[row].ne(Vocab::kPadId).sum().item<int64_t>();
}

class PerTokenMetrics final : public MetricsOf<TransductionMetrics> {
 public:
  explicit PerTokenMetrics(Tokenizer tokenizer)
      : MetricsOf<TransductionMetrics>({}), tokenizer_(std::move(tokenizer)) {}

  void add(const at::Tensor& logits, const Batch& batch, const std::vector<Decoded>&,
           const std::vector<std::string>&) override {
    counts.add(logits.argmax(-1), batch.tgt, Vocab::kPadId);
  }
  void add_unpredicted(const Example& example, const std::string&) override {
    // Every target token wrong, the sequence not matched.
    counts.tokens += static_cast<int64_t>(tokenizer_.tokenize(example.target).size());
    ++counts.sequences;
  }
  double accuracy() const override { return counts.token_accuracy(); }
  double value(BestMetric metric) const override {
    if (metric == BestMetric::kAccuracy) return counts.token_accuracy();
    if (metric == BestMetric::kExactMatch) return counts.exact_match();
    throw std::invalid_argument(std::string(name_of(metric)) +
                                " is not a metric of transduction (accuracy, exact_match, loss)");
  }
  std::vector<double> counters() const override {
    return {static_cast<double>(counts.tokens), static_cast<double>(counts.correct_tokens),
            static_cast<double>(counts.sequences), static_cast<double>(counts.exact_sequences)};
  }
  void set_counters(const std::vector<double>& c) override {
    TORCH_CHECK(c.size() == 4, "PerTokenMetrics: 4 counters, got ", c.size());
    counts.tokens = std::llround(c[0]);
    counts.correct_tokens = std::llround(c[1]);
    counts.sequences = std::llround(c[2]);
    counts.exact_sequences = std::llround(c[3]);
  }
  void write_json(JsonWriter& j) const override {
    j.field("token_accuracy", counts.token_accuracy())
        .field("exact_match", counts.exact_match())
        .field("tokens", counts.tokens);
  }
  void write_log_fields(JsonWriter& j) const override {
    j.field("exact_match", counts.exact_match());
  }
  std::string console_fields() const override {
    char buf[64];
    std::snprintf(buf, sizeof(buf), " exact=%.4f", counts.exact_match());
    return buf;
  }
  std::string report(double loss, const std::string& coverage, const std::string&) const override {
    char buf[512];
    std::snprintf(buf, sizeof(buf),
                  "loss %.4f   token accuracy %.4f   exact match %.4f   (on %s, %ld tokens)\n",
                  loss, counts.token_accuracy(), counts.exact_match(), coverage.c_str(),
                  static_cast<long>(counts.tokens));
    return buf;
  }

 private:
  Tokenizer tokenizer_;
};

}  // namespace

at::Tensor PerTokenObjective::loss(const ModelOutput& output, const at::Tensor& target,
                                   double label_smoothing) const {
  namespace F = torch::nn::functional;
  const auto V = output.logits.size(-1);
  return F::cross_entropy(  // (B*T, V) vs (B*T)
      output.logits.reshape({-1, V}).to(at::kFloat), target.reshape({-1}),
      F::CrossEntropyFuncOptions().label_smoothing(label_smoothing).ignore_index(Vocab::kPadId));
}

std::vector<Decoded> PerTokenObjective::decode(const ModelOutput& output, const at::Tensor& input,
                                               int64_t) const {
  const auto predicted = output.logits.argmax(-1);  // (B, T)
  std::vector<Decoded> out(static_cast<size_t>(predicted.size(0)));
  for (int64_t row = 0; row < predicted.size(0); ++row) {
    const auto ids = predicted[row].slice(0, 0, row_length(input, row)).contiguous();
    auto& d = out[static_cast<size_t>(row)];
    d.ids.assign(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel());
    d.text = tokenizer_.detokenize(target_.decode(d.ids));
  }
  return out;
}

at::Tensor PerTokenObjective::row_logits(const ModelOutput& output, const at::Tensor& input,
                                         int64_t row) const {
  return output.logits[row].slice(0, 0, row_length(input, row));  // (T, V)
}

std::unique_ptr<Metrics> PerTokenObjective::new_metrics() const {
  return std::make_unique<PerTokenMetrics>(tokenizer_);
}

RunningAccuracy PerTokenObjective::running_accuracy(const Batch& batch,
                                                    const at::Tensor& logits) const {
  const auto correct =
      logits.argmax(-1).eq(batch.tgt).logical_and(batch.tgt.ne(Vocab::kPadId)).sum();
  return {correct.item<double>(), static_cast<double>(batch.num_tokens)};
}

}  // namespace attnlab
