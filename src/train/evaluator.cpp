#include "train/evaluator.h"

#include <cmath>
#include <numeric>
#include <sstream>
#include <stdexcept>

#include <ATen/ATen.h>
#include <torch/nn/functional/loss.h>

#include "io/json.h"

namespace attnlab {

at::Tensor task_loss(const at::Tensor& logits, const at::Tensor& target, TaskKind task,
                     double label_smoothing) {
  namespace F = torch::nn::functional;
  auto options = F::CrossEntropyFuncOptions().label_smoothing(label_smoothing);
  if (task == TaskKind::kTransduction) {
    const auto V = logits.size(-1);
    options.ignore_index(Vocab::kPadId);
    return F::cross_entropy(logits.reshape({-1, V}).to(at::kFloat), target.reshape({-1}),
                            options);  // (B*T, V) vs (B*T)
  }
  return F::cross_entropy(logits.to(at::kFloat), target, options);  // (B, K) vs (B)
}

at::Tensor predict_ids(const at::Tensor& logits) { return logits.argmax(-1); }

double EvalResult::accuracy() const {
  return task == TaskKind::kTransduction ? transduction.token_accuracy()
                                         : classification->accuracy();
}

double EvalResult::metric(BestMetric metric) const {
  switch (metric) {
    case BestMetric::kLoss: return loss;
    case BestMetric::kAccuracy: return accuracy();
    case BestMetric::kExactMatch:
      if (task != TaskKind::kTransduction)
        throw std::invalid_argument("exact_match is defined for transduction only");
      return transduction.exact_match();
    case BestMetric::kAuto: break;
  }
  throw std::invalid_argument("metric 'auto' has no value: resolve it for the task first");
}

std::string EvalResult::to_json(const std::vector<std::string>& labels) const {
  JsonWriter j;
  j.field("examples", examples).field("loss", loss).field("accuracy", accuracy());
  if (task == TaskKind::kTransduction) {
    j.field("token_accuracy", transduction.token_accuracy())
        .field("exact_match", transduction.exact_match())
        .field("tokens", transduction.tokens);
  } else {
    j.field("macro_f1", classification->macro_f1());
    std::ostringstream per_class;
    per_class << "{";
    const auto reports = classification->per_class(labels);
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
    for (size_t r = 0; r < classification->confusion.size(); ++r) {
      confusion << (r ? ", " : "") << "[";
      for (size_t c = 0; c < classification->confusion[r].size(); ++c)
        confusion << (c ? ", " : "") << classification->confusion[r][c];
      confusion << "]";
    }
    confusion << "]";
    j.raw("confusion", confusion.str());
    std::vector<std::string> quoted;
    for (const auto& l : labels) quoted.push_back(json_string(l));
    j.raw("labels", "[" + join(quoted, ", ") + "]");
  }
  std::ostringstream samples_json;
  samples_json << "[";
  for (size_t i = 0; i < samples.size(); ++i) {
    samples_json << (i ? ", " : "")
                 << JsonWriter()
                        .field("input", samples[i].input)
                        .field("target", samples[i].target)
                        .field("predicted", samples[i].predicted)
                        .field("correct", samples[i].correct)
                        .str();
  }
  samples_json << "]";
  j.raw("samples", samples_json.str());
  return j.str();
}

std::string decode(const std::vector<int64_t>& ids, const Vocab& vocab, Tokenization t) {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (t == Tokenization::kWord && i > 0) out += ' ';
    out += vocab.token(ids[i]);
  }
  return out;
}

EvalResult evaluate(EncoderModel& model, const Dataset& data, const TaskSpec& vocabs,
                    int64_t batch_size, Precision precision, int64_t num_samples) {
  TORCH_CHECK(batch_size > 0, "evaluate: batch_size must be positive");
  const bool was_training = model->is_training();
  model->eval();
  torch::NoGradGuard no_grad;

  EvalResult result;
  result.task = vocabs.task;
  if (vocabs.task == TaskKind::kClassification)
    result.classification.emplace(vocabs.labels.size());
  double loss_sum = 0.0;
  int64_t loss_count = 0;
  const int64_t n = data.size();
  for (int64_t start = 0; start < n; start += batch_size) {
    std::vector<int64_t> indices(static_cast<size_t>(std::min(batch_size, n - start)));
    std::iota(indices.begin(), indices.end(), start);
    const Batch batch = data.batch(indices);
    at::Tensor logits;
    {
      AutocastGuard autocast(precision);
      logits = model->forward(batch.src).logits;
    }
    logits = logits.to(at::kFloat);
    const auto loss = task_loss(logits, batch.tgt, vocabs.task).item<double>();
    const int64_t count = vocabs.task == TaskKind::kTransduction ? batch.num_tokens
                                                                 : batch.src.size(0);
    loss_sum += loss * static_cast<double>(count);
    loss_count += count;
    const auto predicted = predict_ids(logits);
    if (vocabs.task == TaskKind::kTransduction)
      result.transduction.add(predicted, batch.tgt, Vocab::kPadId);
    else
      result.classification->add(predicted, batch.tgt);

    for (size_t i = 0; i < indices.size() && static_cast<int64_t>(result.samples.size()) < num_samples; ++i) {
      const auto& example = data.example(indices[i]);
      SamplePrediction s;
      s.input = example.source;
      s.target = example.target;
      if (vocabs.task == TaskKind::kTransduction) {
        const auto row = batch.tgt[static_cast<int64_t>(i)];
        const auto length = row.ne(Vocab::kPadId).sum().item<int64_t>();
        auto ids = predicted[static_cast<int64_t>(i)].slice(0, 0, length).contiguous();
        s.predicted = decode(std::vector<int64_t>(ids.data_ptr<int64_t>(),
                                                  ids.data_ptr<int64_t>() + length),
                             vocabs.target, vocabs.tokenization);
      } else {
        s.predicted = vocabs.labels.label(predicted[static_cast<int64_t>(i)].item<int64_t>());
      }
      s.correct = s.predicted == s.target;
      result.samples.push_back(std::move(s));
    }
  }
  result.examples = n;
  result.loss = loss_count ? loss_sum / static_cast<double>(loss_count) : 0.0;
  if (was_training) model->train();
  return result;
}

}  // namespace attnlab
