#include "train/evaluator.h"

#include <ATen/ATen.h>

#include <cmath>
#include <numeric>

#include "io/json.h"
#include "tasks/registry.h"

namespace attnlab {

double EvalResult::metric(BestMetric metric) const {
  if (metric == BestMetric::kAuto)
    throw std::invalid_argument("metric 'auto' has no value: resolve it for the task first");
  return metric == BestMetric::kLoss ? loss : metrics->value(metric);
}

std::string EvalResult::to_json() const {
  JsonWriter j;
  j.field("examples", examples)
      .field("skipped", skipped)
      .field("split_examples", split_examples)
      .field("scored_skipped", scored_skipped)
      .field("loss", loss)
      .field("accuracy", accuracy());
  metrics->write_json(j);
  std::vector<std::string> rows;
  for (const auto& s : samples)
    rows.push_back(JsonWriter()
                       .field("input", s.input)
                       .field("target", s.target)
                       .field("predicted", s.predicted)
                       .field("correct", s.correct)
                       .str());
  j.raw("samples", "[" + join(rows, ", ") + "]");
  return j.str();
}

std::string EvalResult::coverage() const {
  const std::string what = " " + examples_noun;
  if (skipped == 0) return std::to_string(examples) + what;
  if (scored_skipped)
    return std::to_string(examples) + what + " (" + std::to_string(skipped) +
           " skipped by data.skip_unfit, scored as empty output)";
  return std::to_string(examples) + " of " + std::to_string(split_examples) + what + " (" +
         std::to_string(skipped) + " skipped by data.skip_unfit)";
}

EvalResult evaluate(EncoderModel& model, const Dataset& data, const Objective& objective,
                    int64_t batch_size, Precision precision, int64_t num_samples, int64_t beam,
                    EvalShard shard, bool score_skipped) {
  TORCH_CHECK(batch_size > 0, "evaluate: batch_size must be positive");
  TORCH_CHECK(shard.count > 0 && shard.index >= 0 && shard.index < shard.count, "evaluate: shard ",
              shard.index, " of ", shard.count);
  const bool was_training = model->is_training();
  model->eval();
  torch::NoGradGuard no_grad;

  EvalResult result;
  result.metrics = objective.new_metrics();
  result.examples_noun = objective.examples_noun();
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
    output.logits = output.logits.to(at::kFloat);
    const int64_t units = objective.loss_units(batch);
    result.loss_sum +=
        objective.loss(output, batch.tgt).item<double>() * static_cast<double>(units);
    result.loss_units += units;
    const auto predictions = objective.decode(output, batch.src, beam);
    std::vector<std::string> references;
    for (const int64_t i : indices) references.push_back(objective.reference_text(data.example(i)));
    result.metrics->add(output.logits, batch, predictions, references);

    for (size_t i = 0;
         i < indices.size() && static_cast<int64_t>(result.samples.size()) < num_samples; ++i) {
      SamplePrediction s;
      s.input = data.example(indices[i]).source;
      s.target = references[i];
      s.predicted = predictions[i].text;
      s.correct = s.predicted == s.target;
      result.samples.push_back(std::move(s));
    }
  }
  result.examples = n - first;
  result.skipped = data.skipped();
  result.split_examples = data.split_size();
  if (score_skipped && data.skipped() > 0) {
    TORCH_CHECK(shard.count == 1, "evaluate: score_skipped scores a whole split, not a shard");
    for (const auto& e : data.skipped_examples()) result.metrics->add_unpredicted(e, data.path());
    result.examples += data.skipped();
    result.scored_skipped = true;
  }
  result.loss = result.loss_units ? result.loss_sum / static_cast<double>(result.loss_units) : 0.0;
  if (was_training) model->train();
  return result;
}

EvalResult evaluate(EncoderModel& model, const Dataset& data, const TaskSpec& spec,
                    int64_t batch_size, Precision precision, int64_t num_samples, int64_t beam,
                    EvalShard shard, bool score_skipped) {
  return evaluate(model, data, *make_objective(spec), batch_size, precision, num_samples, beam,
                  shard, score_skipped);
}

void sum_over_ranks(EvalResult& result, ProcessGroup& group, const std::string& what) {
  if (group.world_size() == 1) return;
  // Every counter as a double (exact for counts below 2^53), in one flat tensor.
  std::vector<double> counts = {static_cast<double>(result.examples), result.loss_sum,
                                static_cast<double>(result.loss_units)};
  const auto metric_counters = result.metrics->counters();
  counts.insert(counts.end(), metric_counters.begin(), metric_counters.end());
  auto summed = at::tensor(counts, at::kDouble);  // (counters)
  group.all_reduce_sum(summed, what);
  const double* s = summed.data_ptr<double>();
  result.examples = std::llround(s[0]);
  result.loss_sum = s[1];
  result.loss_units = std::llround(s[2]);
  result.metrics->set_counters(std::vector<double>(s + 3, s + summed.numel()));
  result.loss = result.loss_units ? result.loss_sum / static_cast<double>(result.loss_units) : 0.0;
}

}  // namespace attnlab
