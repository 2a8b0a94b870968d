#include "tasks/ctc_objective.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "tasks/ctc.h"
#include "tasks/translation_metrics.h"

namespace attnlab {
namespace {

class CtcMetrics final : public MetricsOf<TranslationMetrics> {
 public:
  explicit CtcMetrics(Tokenizer tokenizer)
      : MetricsOf<TranslationMetrics>({}), tokenizer_(std::move(tokenizer)) {}

  void add(const at::Tensor&, const Batch&, const std::vector<Decoded>& predictions,
           const std::vector<std::string>& references) override {
    TORCH_CHECK(predictions.size() == references.size(), "CtcMetrics: ", predictions.size(),
                " predictions for ", references.size(), " references");
    for (size_t i = 0; i < predictions.size(); ++i) counts.add(predictions[i].text, references[i]);
  }
  void add_unpredicted(const Example& example, const std::string&) override {
    // The empty hypothesis: its reference counts, nothing is matched.
    counts.add("", tokenizer_.detokenize(tokenizer_.tokenize(example.target)));
  }
  double accuracy() const override { return counts.exact_match(); }
  double value(BestMetric metric) const override {
    switch (metric) {
      case BestMetric::kAccuracy:
      case BestMetric::kExactMatch:
        return counts.exact_match();
      case BestMetric::kBleu:
        return counts.bleu();
      case BestMetric::kChrf:
        return counts.chrf();
      default:
        break;
    }
    throw std::invalid_argument(std::string(name_of(metric)) + " is not a metric of translation");
  }
  std::vector<double> counters() const override {
    std::vector<double> c;
    for (const int64_t v :
         {counts.sentences, counts.exact, counts.hypothesis_tokens, counts.reference_tokens})
      c.push_back(static_cast<double>(v));
    for (const auto* array : {&counts.matches, &counts.totals})
      for (const int64_t v : *array) c.push_back(static_cast<double>(v));
    for (const auto* array :
         {&counts.chrf_hypothesis, &counts.chrf_reference, &counts.chrf_matches})
      for (const int64_t v : *array) c.push_back(static_cast<double>(v));
    c.push_back(counts.chrf_sum);
    return c;
  }
  void set_counters(const std::vector<double>& c) override {
    const size_t expected =
        4 + 2 * TranslationMetrics::kBleuOrder + 3 * TranslationMetrics::kChrfOrder + 1;
    TORCH_CHECK(c.size() == expected, "CtcMetrics: ", expected, " counters, got ", c.size());
    size_t at = 0;
    for (int64_t* v :
         {&counts.sentences, &counts.exact, &counts.hypothesis_tokens, &counts.reference_tokens})
      *v = std::llround(c[at++]);
    for (auto* array : {&counts.matches, &counts.totals})
      for (int64_t& v : *array) v = std::llround(c[at++]);
    for (auto* array : {&counts.chrf_hypothesis, &counts.chrf_reference, &counts.chrf_matches})
      for (int64_t& v : *array) v = std::llround(c[at++]);
    counts.chrf_sum = c[at];
  }
  void write_json(JsonWriter& j) const override {
    j.field("exact_match", counts.exact_match())
        .field("bleu", counts.bleu())
        .field("chrf", counts.chrf())
        .field("chrf_sentence_mean", counts.chrf_sentence_mean())
        .field("brevity_penalty", counts.brevity_penalty())
        .field("hypothesis_tokens", counts.hypothesis_tokens)
        .field("reference_tokens", counts.reference_tokens)
        .field("signature", TranslationMetrics::signature());
  }
  void write_log_fields(JsonWriter& j) const override {
    j.field("exact_match", counts.exact_match())
        .field("bleu", counts.bleu())
        .field("chrf", counts.chrf());
  }
  std::string console_fields() const override {
    char buf[96];
    std::snprintf(buf, sizeof(buf), " exact=%.4f bleu=%.2f chrf=%.2f", counts.exact_match(),
                  counts.bleu(), counts.chrf());
    return buf;
  }
  std::string report(double loss, const std::string& coverage,
                     const std::string& decoding) const override {
    char buf[1024];
    std::snprintf(buf, sizeof(buf),
                  "loss %.4f   exact match %.4f   BLEU %.2f   chrF %.2f   (on %s; %s)\n"
                  "BLEU: brevity penalty %.4f, hypothesis/reference tokens %ld/%ld, n-gram "
                  "precisions",
                  loss, counts.exact_match(), counts.bleu(), counts.chrf(), coverage.c_str(),
                  decoding.c_str(), counts.brevity_penalty(),
                  static_cast<long>(counts.hypothesis_tokens),
                  static_cast<long>(counts.reference_tokens));
    std::string out = buf;
    for (int n = 0; n < TranslationMetrics::kBleuOrder; ++n) {
      const auto k = static_cast<size_t>(n);
      std::snprintf(buf, sizeof(buf), " %.1f",
                    counts.totals[k] ? 100.0 * static_cast<double>(counts.matches[k]) /
                                           static_cast<double>(counts.totals[k])
                                     : 0.0);
      out += buf;
    }
    out += "\n" + TranslationMetrics::signature() + "\n";
    out += "scored on detokenized text; the model's tokenization: " + tokenizer_.describe() + "\n";
    return out;
  }

 private:
  Tokenizer tokenizer_;
};

}  // namespace

at::Tensor CtcObjective::loss(const ModelOutput& output, const at::Tensor& target, double) const {
  TORCH_CHECK(output.lengths.defined(), "CtcObjective::loss: the model output has no lengths");
  return ctc_loss_per_token(output.logits, output.lengths, target);
}

std::vector<Decoded> CtcObjective::decode(const ModelOutput& output, const at::Tensor&,
                                          int64_t beam) const {
  TORCH_CHECK(beam >= 1, "CtcObjective::decode: beam must be >= 1, got ", beam);
  const auto greedy = ctc_greedy_decode(output.logits.argmax(-1), output.lengths);
  std::vector<Decoded> out(greedy.size());
  for (size_t i = 0; i < greedy.size(); ++i) {
    const auto row = static_cast<int64_t>(i);
    out[i].ids =
        beam > 1 ? ctc_prefix_beam_search(row_logits(output, {}, row), beam) : greedy[i].tokens;
    out[i].text = tokenizer_.detokenize(target_.decode(out[i].ids));
  }
  return out;
}

at::Tensor CtcObjective::row_logits(const ModelOutput& output, const at::Tensor&,
                                    int64_t row) const {
  return output.logits[row].slice(0, 0, output.lengths[row].item<int64_t>());  // (T*k, V)
}

std::vector<std::string> CtcObjective::output_names() const {
  auto names = target_.tokens();
  names[kCtcBlank] = "<blank>";
  return names;
}

std::string CtcObjective::reference_text(const Example& example) const {
  return tokenizer_.detokenize(tokenizer_.tokenize(example.target));
}

std::string CtcObjective::decoding_name(int64_t beam) const {
  return beam > 1 ? "CTC beam " + std::to_string(beam) : "greedy CTC";
}

std::unique_ptr<Metrics> CtcObjective::new_metrics() const {
  return std::make_unique<CtcMetrics>(tokenizer_);
}

RunningAccuracy CtcObjective::running_accuracy(const Batch& batch, const at::Tensor& logits) const {
  // Exact match of the greedy decode; logits are (B, T*k, V) for src (B, T).
  const int64_t k = logits.size(1) / batch.src.size(1);
  const auto lengths = batch.src.ne(Vocab::kPadId).sum(1) * k;  // (B)
  const auto decoded = ctc_greedy_decode(logits.argmax(-1), lengths);
  RunningAccuracy r;
  for (int64_t b = 0; b < batch.tgt.size(0); ++b) {
    const auto row = batch.tgt[b];
    const auto n = row.ne(Vocab::kPadId).sum().item<int64_t>();
    const auto ids = row.slice(0, 0, n).contiguous();
    const std::vector<int64_t> target(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + n);
    r.correct += target == decoded[static_cast<size_t>(b)].tokens ? 1.0 : 0.0;
  }
  r.units = static_cast<double>(batch.src.size(0));
  return r;
}

}  // namespace attnlab
