#include "train/evaluator.h"

#include <ATen/ATen.h>
#include <torch/nn/functional/loss.h>

#include <cmath>
#include <numeric>
#include <sstream>
#include <stdexcept>

#include "io/json.h"
#include "train/ctc.h"

namespace attnlab {

at::Tensor task_loss(const at::Tensor& logits, const at::Tensor& target, TaskKind task,
                     double label_smoothing, const at::Tensor& output_lengths) {
  if (task == TaskKind::kTranslation) {
    TORCH_CHECK(output_lengths.defined(), "task_loss: translation needs the output lengths");
    return ctc_loss_per_token(logits, output_lengths, target);
  }
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
  switch (task) {
    case TaskKind::kTransduction:
      return transduction.token_accuracy();
    case TaskKind::kTranslation:
      return translation.exact_match();
    case TaskKind::kClassification:
    case TaskKind::kImageClassification:
      break;
  }
  return classification->accuracy();
}

double EvalResult::exact_match() const {
  if (task == TaskKind::kTransduction) return transduction.exact_match();
  if (task == TaskKind::kTranslation) return translation.exact_match();
  throw std::invalid_argument("exact_match is defined for transduction and translation only");
}

double EvalResult::metric(BestMetric metric) const {
  switch (metric) {
    case BestMetric::kLoss:
      return loss;
    case BestMetric::kAccuracy:
      return accuracy();
    case BestMetric::kExactMatch:
      return exact_match();
    case BestMetric::kBleu:
    case BestMetric::kChrf:
      if (task != TaskKind::kTranslation)
        throw std::invalid_argument("bleu and chrf are defined for translation only");
      return metric == BestMetric::kBleu ? translation.bleu() : translation.chrf();
    case BestMetric::kAuto:
      break;
  }
  throw std::invalid_argument("metric 'auto' has no value: resolve it for the task first");
}

std::string EvalResult::to_json(const std::vector<std::string>& labels) const {
  JsonWriter j;
  j.field("examples", examples)
      .field("skipped", skipped)
      .field("split_examples", split_examples)
      .field("scored_skipped", scored_skipped)
      .field("loss", loss)
      .field("accuracy", accuracy());
  if (task == TaskKind::kTransduction) {
    j.field("token_accuracy", transduction.token_accuracy())
        .field("exact_match", transduction.exact_match())
        .field("tokens", transduction.tokens);
  } else if (task == TaskKind::kTranslation) {
    j.field("exact_match", translation.exact_match())
        .field("bleu", translation.bleu())
        .field("chrf", translation.chrf())
        .field("chrf_sentence_mean", translation.chrf_sentence_mean())
        .field("brevity_penalty", translation.brevity_penalty())
        .field("hypothesis_tokens", translation.hypothesis_tokens)
        .field("reference_tokens", translation.reference_tokens)
        .field("signature", TranslationMetrics::signature());
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

std::string EvalResult::coverage() const {
  const std::string what = is_classification(task) ? " examples" : " pairs";
  if (skipped == 0) return std::to_string(examples) + what;
  if (scored_skipped)
    return std::to_string(examples) + what + " (" + std::to_string(skipped) +
           " skipped by data.skip_unfit, scored as empty output)";
  return std::to_string(examples) + " of " + std::to_string(split_examples) + what + " (" +
         std::to_string(skipped) + " skipped by data.skip_unfit)";
}

std::string decode(const std::vector<int64_t>& ids, const Vocab& vocab,
                   const Tokenizer& tokenizer) {
  return tokenizer.detokenize(vocab.decode(ids));
}

EvalResult evaluate(EncoderModel& model, const Dataset& data, const TaskSpec& vocabs,
                    int64_t batch_size, Precision precision, int64_t num_samples, int64_t beam,
                    EvalShard shard, bool score_skipped) {
  TORCH_CHECK(batch_size > 0, "evaluate: batch_size must be positive");
  const bool was_training = model->is_training();
  model->eval();
  torch::NoGradGuard no_grad;

  EvalResult result;
  result.task = vocabs.task;
  if (is_classification(vocabs.task)) result.classification.emplace(vocabs.labels.size());
  TORCH_CHECK(shard.count > 0 && shard.index >= 0 && shard.index < shard.count, "evaluate: shard ",
              shard.index, " of ", shard.count);
  double loss_sum = 0.0;
  int64_t loss_count = 0;
  const int64_t first = shard.index * data.size() / shard.count;
  const int64_t n = (shard.index + 1) * data.size() / shard.count;  // one past the last
  for (int64_t start = first; start < n; start += batch_size) {
    std::vector<int64_t> indices(static_cast<size_t>(std::min(batch_size, n - start)));
    std::iota(indices.begin(), indices.end(), start);
    const Batch batch = data.batch(indices);
    ModelOutput output;
    {
      AutocastGuard autocast(precision);
      output = model->forward(batch.src);
    }
    const auto logits = output.logits.to(at::kFloat);
    const auto loss = task_loss(logits, batch.tgt, vocabs.task, 0.0, output.lengths).item<double>();
    const int64_t count = has_target_sequence(vocabs.task) ? batch.num_tokens : batch.src.size(0);
    loss_sum += loss * static_cast<double>(count);
    loss_count += count;
    const auto predicted = predict_ids(logits);
    std::vector<std::string> hypotheses;  // translation: detokenized greedy decodes
    if (vocabs.task == TaskKind::kTransduction) {
      result.transduction.add(predicted, batch.tgt, Vocab::kPadId);
    } else if (vocabs.task == TaskKind::kTranslation) {
      const auto decoded = ctc_greedy_decode(predicted, output.lengths);
      for (size_t i = 0; i < indices.size(); ++i) {
        const auto row = static_cast<int64_t>(i);
        const auto tokens =
            beam > 1 ? ctc_prefix_beam_search(
                           logits[row].slice(0, 0, output.lengths[row].item<int64_t>()), beam)
                     : decoded[i].tokens;
        hypotheses.push_back(vocabs.tokenizer.detokenize(vocabs.target.decode(tokens)));
        const auto& reference = data.example(indices[i]).target;
        result.translation.add(hypotheses.back(),
                               vocabs.tokenizer.detokenize(vocabs.tokenizer.tokenize(reference)));
      }
    } else {
      result.classification->add(predicted, batch.tgt);
    }

    for (size_t i = 0;
         i < indices.size() && static_cast<int64_t>(result.samples.size()) < num_samples; ++i) {
      const auto& example = data.example(indices[i]);
      SamplePrediction s;
      s.input = example.source;
      s.target = example.target;
      if (vocabs.task == TaskKind::kTransduction) {
        const auto row = batch.tgt[static_cast<int64_t>(i)];
        const auto length = row.ne(Vocab::kPadId).sum().item<int64_t>();
        auto ids = predicted[static_cast<int64_t>(i)].slice(0, 0, length).contiguous();
        s.predicted =
            decode(std::vector<int64_t>(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + length),
                   vocabs.target, vocabs.tokenizer);
      } else if (vocabs.task == TaskKind::kTranslation) {
        s.predicted = hypotheses[i];
        s.target = vocabs.tokenizer.detokenize(vocabs.tokenizer.tokenize(example.target));
      } else {
        s.predicted = vocabs.labels.label(predicted[static_cast<int64_t>(i)].item<int64_t>());
      }
      s.correct = s.predicted == s.target;
      result.samples.push_back(std::move(s));
    }
  }
  result.examples = n - first;
  result.skipped = data.skipped();
  result.split_examples = data.split_size();
  if (score_skipped && data.skipped() > 0) {
    TORCH_CHECK(shard.count == 1, "evaluate: score_skipped scores a whole split, not a shard");
    for (const auto& e : data.skipped_examples()) {
      if (vocabs.task == TaskKind::kTransduction) {
        result.transduction.tokens +=
            static_cast<int64_t>(vocabs.tokenizer.tokenize(e.target).size());
        ++result.transduction.sequences;
      } else if (vocabs.task == TaskKind::kTranslation) {
        result.translation.add("",
                               vocabs.tokenizer.detokenize(vocabs.tokenizer.tokenize(e.target)));
      } else {
        const int64_t label = vocabs.labels.find(e.target);
        if (label < 0)
          throw DataError(
              data.path() + ":" + std::to_string(e.line) + ": unknown label '" + e.target +
              "' (a pair data.skip_unfit dropped); known labels: " + vocabs.labels.joined());
        result.classification->add_unpredicted(label);
      }
    }
    result.examples += data.skipped();
    result.scored_skipped = true;
  }
  result.loss_sum = loss_sum;
  result.loss_units = loss_count;
  result.loss = loss_count ? loss_sum / static_cast<double>(loss_count) : 0.0;
  if (was_training) model->train();
  return result;
}

void sum_over_ranks(EvalResult& result, ProcessGroup& group, const std::string& what) {
  if (group.world_size() == 1) return;
  // Every counter as a double (exact for counts below 2^53), in one flat tensor.
  std::vector<double> counts = {static_cast<double>(result.examples), result.loss_sum,
                                static_cast<double>(result.loss_units)};
  auto& t = result.transduction;
  auto& m = result.translation;
  for (const int64_t c : {t.tokens, t.correct_tokens, t.sequences, t.exact_sequences, m.sentences,
                          m.exact, m.hypothesis_tokens, m.reference_tokens})
    counts.push_back(static_cast<double>(c));
  for (int k = 0; k < TranslationMetrics::kBleuOrder; ++k) {
    counts.push_back(static_cast<double>(m.matches[static_cast<size_t>(k)]));
    counts.push_back(static_cast<double>(m.totals[static_cast<size_t>(k)]));
  }
  for (int k = 0; k < TranslationMetrics::kChrfOrder; ++k) {
    counts.push_back(static_cast<double>(m.chrf_hypothesis[static_cast<size_t>(k)]));
    counts.push_back(static_cast<double>(m.chrf_reference[static_cast<size_t>(k)]));
    counts.push_back(static_cast<double>(m.chrf_matches[static_cast<size_t>(k)]));
  }
  counts.push_back(m.chrf_sum);
  if (result.classification) {
    auto& c = *result.classification;
    counts.push_back(static_cast<double>(c.total));
    counts.push_back(static_cast<double>(c.correct));
    for (const auto& row : c.confusion)
      for (const int64_t cell : row) counts.push_back(static_cast<double>(cell));
    for (const int64_t count : c.unpredicted) counts.push_back(static_cast<double>(count));
  }
  auto summed = at::tensor(counts, at::kDouble);  // (counters)
  group.all_reduce_sum(summed, what);
  const double* s = summed.data_ptr<double>();
  size_t at = 0;
  const auto next = [&] { return s[at++]; };
  const auto next_int = [&] { return static_cast<int64_t>(std::llround(s[at++])); };
  result.examples = next_int();
  result.loss_sum = next();
  result.loss_units = next_int();
  for (int64_t* c : {&t.tokens, &t.correct_tokens, &t.sequences, &t.exact_sequences, &m.sentences,
                     &m.exact, &m.hypothesis_tokens, &m.reference_tokens})
    *c = next_int();
  for (int k = 0; k < TranslationMetrics::kBleuOrder; ++k) {
    m.matches[static_cast<size_t>(k)] = next_int();
    m.totals[static_cast<size_t>(k)] = next_int();
  }
  for (int k = 0; k < TranslationMetrics::kChrfOrder; ++k) {
    m.chrf_hypothesis[static_cast<size_t>(k)] = next_int();
    m.chrf_reference[static_cast<size_t>(k)] = next_int();
    m.chrf_matches[static_cast<size_t>(k)] = next_int();
  }
  m.chrf_sum = next();
  if (result.classification) {
    auto& c = *result.classification;
    c.total = next_int();
    c.correct = next_int();
    for (auto& row : c.confusion)
      for (int64_t& cell : row) cell = next_int();
    for (int64_t& count : c.unpredicted) count = next_int();
  }
  result.loss = result.loss_units ? result.loss_sum / static_cast<double>(result.loss_units) : 0.0;
}

}  // namespace attnlab
