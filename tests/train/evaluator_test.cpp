// evaluate against LibTorch's cross-entropy of one big batch, EvalResult's metrics by name and
// JSON, and the data-parallel sum of every counter.
#include "train/evaluator.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include "data/vocab.h"
#include "runtime/process_group.h"
#include "support/torchrun.h"
#include "support/train_helpers.h"
#include "tasks/accuracy_metrics.h"
#include "tasks/registry.h"
#include "tasks/translation_metrics.h"
#include "train/run_data.h"

namespace attnlab {
namespace {

// A result with the metrics of `task`'s objective and their counters, writable.
template <class Counts>
Counts& counts_of(EvalResult& r) {
  return dynamic_cast<MetricsOf<Counts>&>(*r.metrics).counts;
}

EvalResult result_of(TaskKind task, std::vector<std::string> labels = {"neg", "pos"}) {
  TaskSpec spec;
  spec.task = task;
  spec.labels = LabelSet::from_ordered(std::move(labels));
  const auto objective = make_objective(spec);
  EvalResult r;
  r.metrics = objective->new_metrics();
  r.examples_noun = objective->examples_noun();
  return r;
}

EvalResult transduction_result() {
  EvalResult r = result_of(TaskKind::kTransduction);
  r.examples = 2;
  r.loss = 0.5;
  counts_of<TransductionMetrics>(r).add(torch::tensor({1, 2, 3, 4}, torch::kLong).reshape({2, 2}),
                                        torch::tensor({1, 2, 3, 5}, torch::kLong).reshape({2, 2}),
                                        0);
  r.samples.push_back({"in \"1\"", "tab\there", "ok\\", true});
  return r;
}

EvalResult classification_result() {
  EvalResult r = result_of(TaskKind::kClassification);
  r.examples = 4;
  r.loss = std::nan("");  // a diverged model: must still be valid JSON
  counts_of<ClassificationMetrics>(r).add(torch::tensor({0, 1, 1, 1}, torch::kLong),
                                          torch::tensor({0, 1, 0, 1}, torch::kLong));
  return r;
}

TEST(EvalResult, MetricsByName) {
  const auto t = transduction_result();
  EXPECT_DOUBLE_EQ(t.accuracy(), 0.75);
  EXPECT_DOUBLE_EQ(t.metric(BestMetric::kAccuracy), 0.75);
  EXPECT_DOUBLE_EQ(t.metric(BestMetric::kExactMatch), 0.5);
  EXPECT_DOUBLE_EQ(t.metric(BestMetric::kLoss), 0.5);
  EXPECT_THROW(t.metric(BestMetric::kAuto), std::invalid_argument);
  const auto c = classification_result();
  EXPECT_DOUBLE_EQ(c.metric(BestMetric::kAccuracy), 0.75);
  EXPECT_THROW(c.metric(BestMetric::kExactMatch), std::invalid_argument);
}

TEST(EvalResult, JsonHasTheDocumentedKeys) {
  const auto t = transduction_result().to_json();
  for (const char* key :
       {"\"examples\": 2", "\"loss\": 0.5", "\"accuracy\": 0.75", "\"token_accuracy\": 0.75",
        "\"exact_match\": 0.5", "\"tokens\": 4", "\"samples\": [{"})
    test::expect_contains(t, key);
  const auto c = classification_result().to_json();
  for (const char* key :
       {"\"loss\": null", "\"accuracy\": 0.75", "\"macro_f1\"", "\"per_class\": {\"neg\": {",
        "\"confusion\": [[1, 1], [0, 2]]", "\"labels\": [\"neg\", \"pos\"]", "\"samples\": []"})
    test::expect_contains(c, key);
}

TEST(EvalResult, JsonParsesWithPython) {
  if (!test::python_has("json")) GTEST_SKIP() << "python3 not available";
  test::ScratchDir dir;
  test::write_text(dir.file("t.json"), transduction_result().to_json());
  test::write_text(dir.file("c.json"), classification_result().to_json());
  test::write_text(dir.file("check.py"), R"(import json, sys
t = json.load(open(sys.argv[1]))
c = json.load(open(sys.argv[2]))
print("t_keys=" + ",".join(sorted(t)))
print("c_keys=" + ",".join(sorted(c)))
print("sample=" + repr(t["samples"][0]))
print("neg=%.6f,%.6f,%.6f,%d" % tuple(c["per_class"]["neg"][k] for k in ("precision", "recall", "f1", "support")))
print("macro_f1=%.6f" % c["macro_f1"])
print("loss=" + repr(c["loss"]))
)");
  bool ok = false;
  const auto out =
      test::run_python(dir.file("check.py"), dir.file("t.json") + " " + dir.file("c.json"), ok);
  ASSERT_TRUE(ok) << out;
  EXPECT_EQ(test::line_value(out, "t_keys"),
            "accuracy,exact_match,examples,loss,samples,scored_skipped,skipped,split_examples,"
            "token_accuracy,tokens");
  EXPECT_EQ(test::line_value(out, "c_keys"),
            "accuracy,confusion,examples,labels,loss,macro_f1,per_class,samples,scored_skipped,"
            "skipped,split_examples");
  EXPECT_EQ(
      test::line_value(out, "sample"),
      "{'input': 'in \"1\"', 'target': 'tab\\there', 'predicted': 'ok\\\\', 'correct': True}");
  // neg: tp 1, predicted 1, actual 2 -> P 1, R 0.5, F1 2/3; pos: P 2/3, R 1, F1 0.8.
  EXPECT_EQ(test::line_value(out, "neg"), "1.000000,0.500000,0.666667,2");
  EXPECT_EQ(test::line_value(out, "macro_f1"), "0.733333");
  EXPECT_EQ(test::line_value(out, "loss"), "None");
}

TEST(Evaluate, MatchesOneBigBatchAndRestoresTrainMode) {
  torch::manual_seed(4);
  TaskSpec spec;
  spec.task = TaskKind::kTransduction;
  spec.tokenizer = Tokenizer(Tokenization::kChar);
  spec.max_len = 8;
  spec.source = Vocab::build({{"a", "b", "c"}});
  spec.target = Vocab::build({{"a", "b", "c"}});
  std::vector<Example> examples = {
      {"abc", "cba", 1}, {"ab", "ba", 2}, {"c", "c", 3}, {"bca", "acb", 4}, {"aa", "aa", 5}};
  const auto data = make_dataset(examples, "memory.tsv", spec);
  auto options = test::tiny_model_options(spec.source.size(), spec.target.size());
  options.encoder.layer.dropout = 0.5;  // evaluate must switch it off
  EncoderModel model(options);
  model->train();

  // Batches of 2 (with different padding) vs. the whole set at once, computed here.
  const auto result = evaluate(model, data, spec, /*batch_size=*/2, Precision::kFp32,
                               /*num_samples=*/2);
  EXPECT_TRUE(model->is_training());
  model->eval();
  torch::NoGradGuard no_grad;
  const auto all = data.batch({0, 1, 2, 3, 4});
  const auto logits = model->forward(all.src).logits;  // (5, 3, V)
  EXPECT_EQ(result.examples, 5);
  // Reference: LibTorch's cross-entropy over the non-pad positions of the whole set.
  const auto V = logits.size(-1);
  const auto reference = torch::nn::functional::cross_entropy(
      logits.reshape({-1, V}), all.tgt.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(Vocab::kPadId));
  EXPECT_NEAR(result.loss, reference.item<double>(), 1e-5);
  const auto predicted = logits.argmax(-1);  // (5, 3)
  const auto valid = all.tgt.ne(Vocab::kPadId);
  const auto& counts = result.counts<TransductionMetrics>();
  EXPECT_EQ(counts.tokens, 3 + 2 + 1 + 3 + 2);
  EXPECT_EQ(counts.correct_tokens, predicted.eq(all.tgt).logical_and(valid).sum().item<int64_t>());
  EXPECT_EQ(counts.exact_sequences,
            predicted.eq(all.tgt).logical_or(valid.logical_not()).all(1).sum().item<int64_t>());

  ASSERT_EQ(result.samples.size(), 2u);
  EXPECT_EQ(result.samples[0].input, "abc");
  EXPECT_EQ(result.samples[0].target, "cba");
  const auto row = predicted[1].slice(0, 0, 2).contiguous();
  std::string text;  // char tokens, concatenated
  for (int64_t t = 0; t < 2; ++t) text += spec.target.token(row[t].item<int64_t>());
  EXPECT_EQ(result.samples[1].predicted, text);
  EXPECT_EQ(result.samples[1].correct, result.samples[1].predicted == "ba");

  // Already in eval mode: stays there.
  evaluate(model, data, spec, 3, Precision::kFp32, 0);
  EXPECT_FALSE(model->is_training());
}

// sum_over_ranks, on two torchrun workers of this binary (the same way as ProcessGroup's
// tests): each rank fills every counter with its own numbers, and both must end with the sums,
// computed here by hand.
TEST(SumOverRanks, TwoTorchrunWorkersAddEveryCounter) {
  if (std::getenv("ATTNLAB_TEST_WORKER")) GTEST_SKIP() << "inside a torchrun worker";
  if (!test::has_torchrun()) GTEST_SKIP() << "torchrun missing (python3-torch)";
  const auto run = test::torchrun_workers(2, "SumOverRanksWorker.*");
  EXPECT_EQ(run.rc, 0) << run.out;
  EXPECT_NE(run.out.find("[  PASSED  ] 1 test"), std::string::npos) << run.out;
}

// A result whose every counter is a distinct function of `r` (the rank, 0 or 1).
EvalResult counters_of_rank(int64_t r, TaskKind task) {
  EvalResult e = result_of(task, {"a", "b", "c"});
  e.examples = 10 + r;
  e.loss_units = 100 + 7 * r;
  e.loss_sum = 0.5 * static_cast<double>(e.loss_units) * (1.0 + static_cast<double>(r));
  if (task == TaskKind::kTransduction)
    counts_of<TransductionMetrics>(e) = {200 + r, 150 + 3 * r, 10 + r, 4 + 2 * r};
  if (task == TaskKind::kTranslation) {
    auto& m = counts_of<TranslationMetrics>(e);
    m.sentences = 10 + r;
    m.exact = 2 + r;
    m.hypothesis_tokens = 90 + r;
    m.reference_tokens = 95 + 2 * r;
    for (size_t k = 0; k < 4; ++k) {
      m.matches[k] = 40 - 5 * static_cast<int64_t>(k) + r;
      m.totals[k] = 90 - 10 * static_cast<int64_t>(k) + 3 * r;
    }
    for (size_t k = 0; k < 6; ++k) {
      m.chrf_hypothesis[k] = 60 + static_cast<int64_t>(k) + r;
      m.chrf_reference[k] = 70 + static_cast<int64_t>(k) + 2 * r;
      m.chrf_matches[k] = 30 + static_cast<int64_t>(k) + 3 * r;
    }
    m.chrf_sum = 3.25 + 0.5 * static_cast<double>(r);
  }
  if (task == TaskKind::kClassification) {
    auto& c = counts_of<ClassificationMetrics>(e);
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 3; ++j) c.confusion[i][j] = 3 * i + j + 10 * r;
    c.unpredicted = {r, 2 * r, 5};
    c.total = 36 + 90 * r;
    c.correct = 12 + 30 * r;
  }
  return e;
}

TEST(SumOverRanksWorker, AddsEveryCounter) {
  if (!std::getenv("ATTNLAB_TEST_WORKER")) GTEST_SKIP() << "run by SumOverRanks.* through torchrun";
  ProcessGroup group(launch_env_from_environment(), std::chrono::seconds(30));
  ASSERT_EQ(group.world_size(), 2);
  for (const auto task :
       {TaskKind::kTransduction, TaskKind::kTranslation, TaskKind::kClassification}) {
    auto e = counters_of_rank(group.rank(), task);
    e.samples.push_back({"in", "out", "pred", false});  // a rank's own, kept as is
    sum_over_ranks(e, group, "a test result");
    const auto a = counters_of_rank(0, task), b = counters_of_rank(1, task);
    EXPECT_EQ(e.examples, a.examples + b.examples);
    EXPECT_EQ(e.loss_units, a.loss_units + b.loss_units);
    EXPECT_DOUBLE_EQ(e.loss_sum, a.loss_sum + b.loss_sum);
    EXPECT_DOUBLE_EQ(e.loss,
                     (a.loss_sum + b.loss_sum) / static_cast<double>(a.loss_units + b.loss_units));
    EXPECT_EQ(e.samples.size(), 1u);
    if (task == TaskKind::kTransduction) {
      const auto& t = e.counts<TransductionMetrics>();
      EXPECT_EQ(t.tokens, 401);
      EXPECT_EQ(t.correct_tokens, 303);
      EXPECT_EQ(t.sequences, 21);
      EXPECT_EQ(t.exact_sequences, 10);
    }
    if (task == TaskKind::kTranslation) {
      const auto& m = e.counts<TranslationMetrics>();
      EXPECT_EQ(m.sentences, 21);
      EXPECT_EQ(m.exact, 5);
      EXPECT_EQ(m.hypothesis_tokens, 181);
      EXPECT_EQ(m.reference_tokens, 192);
      for (size_t k = 0; k < 4; ++k) {
        EXPECT_EQ(m.matches[k], 81 - 10 * static_cast<int64_t>(k)) << k;
        EXPECT_EQ(m.totals[k], 183 - 20 * static_cast<int64_t>(k)) << k;
      }
      for (size_t k = 0; k < 6; ++k) {
        EXPECT_EQ(m.chrf_hypothesis[k], 121 + 2 * static_cast<int64_t>(k)) << k;
        EXPECT_EQ(m.chrf_reference[k], 142 + 2 * static_cast<int64_t>(k)) << k;
        EXPECT_EQ(m.chrf_matches[k], 63 + 2 * static_cast<int64_t>(k)) << k;
      }
      EXPECT_DOUBLE_EQ(m.chrf_sum, 7.0);
    }
    if (task == TaskKind::kClassification) {
      const auto& c = e.counts<ClassificationMetrics>();
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 3; ++j)
          EXPECT_EQ(c.confusion[i][j], 2 * (3 * i + j) + 10) << i << "," << j;
      EXPECT_EQ(c.unpredicted, (std::vector<int64_t>{1, 2, 10}));
      EXPECT_EQ(c.total, 162);
      EXPECT_EQ(c.correct, 54);
    }
  }
}

}  // namespace
}  // namespace attnlab
