// Loss against a cross-entropy written out by hand, decoding, and EvalResult's JSON.
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
#include "train/run_data.h"

namespace attnlab {
namespace {

// Mean over counted rows of (1 - s) * -log p[y] + s * mean_k(-log p[k]), in double.
// logits (N, V), target (N); rows whose target is `ignore` are skipped.
double hand_cross_entropy(const torch::Tensor& logits, const torch::Tensor& target,
                          double smoothing, int64_t ignore) {
  const auto l = logits.to(torch::kDouble).contiguous();
  const auto N = l.size(0), V = l.size(1);
  double total = 0.0;
  int64_t count = 0;
  for (int64_t i = 0; i < N; ++i) {
    const int64_t y = target[i].item<int64_t>();
    if (y == ignore) continue;
    const double* row = l.data_ptr<double>() + i * V;
    double max = row[0];
    for (int64_t k = 1; k < V; ++k) max = std::max(max, row[k]);
    double sum = 0.0;
    for (int64_t k = 0; k < V; ++k) sum += std::exp(row[k] - max);
    const double log_z = max + std::log(sum);
    double uniform = 0.0;
    for (int64_t k = 0; k < V; ++k) uniform += (log_z - row[k]) / static_cast<double>(V);
    total += (1.0 - smoothing) * (log_z - row[y]) + smoothing * uniform;
    ++count;
  }
  return total / static_cast<double>(count);
}

TEST(TaskLoss, TransductionIgnoresPadding) {
  torch::manual_seed(0);
  constexpr int64_t kB = 3, kT = 4, kV = 6;
  const auto logits = torch::randn({kB, kT, kV}) * 3;
  auto target = torch::randint(1, kV, {kB, kT}, torch::kLong);
  target[0][3] = Vocab::kPadId;
  target[2][2] = Vocab::kPadId;
  target[2][3] = Vocab::kPadId;
  for (const double smoothing : {0.0, 0.1, 0.3}) {
    const auto loss = task_loss(logits, target, TaskKind::kTransduction, smoothing);
    EXPECT_EQ(loss.dim(), 0);
    EXPECT_NEAR(loss.item<double>(),
                hand_cross_entropy(logits.reshape({-1, kV}), target.reshape({-1}), smoothing,
                                   Vocab::kPadId),
                1e-5)
        << "smoothing " << smoothing;
  }
}

TEST(TaskLoss, ClassificationCountsEveryExampleAndClassZero) {
  torch::manual_seed(1);
  const auto logits = torch::randn({5, 3}) * 2;
  const auto target = torch::tensor({0, 2, 1, 0, 0}, torch::kLong);  // class 0 is not padding
  for (const double smoothing : {0.0, 0.2}) {
    EXPECT_NEAR(task_loss(logits, target, TaskKind::kClassification, smoothing).item<double>(),
                hand_cross_entropy(logits, target, smoothing, /*ignore=*/-1), 1e-5);
  }
}

TEST(TaskLoss, Bf16LogitsAreScoredInFloat32AndGradientsFlow) {
  torch::manual_seed(2);
  const auto logits = (torch::randn({2, 3, 5}) * 2).to(torch::kBFloat16).requires_grad_();
  const auto target = torch::randint(1, 5, {2, 3}, torch::kLong);
  const auto loss = task_loss(logits, target, TaskKind::kTransduction);
  EXPECT_EQ(loss.scalar_type(), torch::kFloat);
  EXPECT_NEAR(loss.item<double>(),
              hand_cross_entropy(logits.detach().reshape({-1, 5}), target.reshape({-1}), 0.0, 0),
              1e-5);
  loss.backward();
  ASSERT_TRUE(logits.grad().defined());
  EXPECT_GT(logits.grad().abs().sum().item<double>(), 0.0);
}

TEST(PredictIds, ArgmaxOverTheLastDimension) {
  const auto logits = torch::tensor({0.1f, 0.9f, 0.3f, 2.0f, -1.0f, 0.0f}).reshape({2, 3});
  EXPECT_TRUE(torch::equal(predict_ids(logits), torch::tensor({1, 0}, torch::kLong)));
  const auto seq = logits.reshape({1, 2, 3});
  EXPECT_TRUE(torch::equal(predict_ids(seq), torch::tensor({1, 0}, torch::kLong).reshape({1, 2})));
}

TEST(Decode, WordJoinsWithSpacesCharConcatenates) {
  const auto vocab = Vocab::from_tokens({"<pad>", "<unk>", "<cls>", "ab", "c", " "});
  EXPECT_EQ(decode({3, 4, 3}, vocab, Tokenization::kWord), "ab c ab");
  EXPECT_EQ(decode({3, 4, 3}, vocab, Tokenization::kChar), "abcab");
  EXPECT_EQ(decode({4, 5, 4}, vocab, Tokenization::kChar), "c c");
  EXPECT_EQ(decode({1}, vocab, Tokenization::kWord), "<unk>");
  EXPECT_EQ(decode({}, vocab, Tokenization::kWord), "");
}

EvalResult transduction_result() {
  EvalResult r;
  r.task = TaskKind::kTransduction;
  r.examples = 2;
  r.loss = 0.5;
  r.transduction.add(torch::tensor({1, 2, 3, 4}, torch::kLong).reshape({2, 2}),
                     torch::tensor({1, 2, 3, 5}, torch::kLong).reshape({2, 2}), 0);
  r.samples.push_back({"in \"1\"", "tab\there", "ok\\", true});
  return r;
}

EvalResult classification_result() {
  EvalResult r;
  r.task = TaskKind::kClassification;
  r.examples = 4;
  r.loss = std::nan("");  // a diverged model: must still be valid JSON
  r.classification.emplace(2);
  r.classification->add(torch::tensor({0, 1, 1, 1}, torch::kLong),
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
  const auto t = transduction_result().to_json({});
  for (const char* key :
       {"\"examples\": 2", "\"loss\": 0.5", "\"accuracy\": 0.75", "\"token_accuracy\": 0.75",
        "\"exact_match\": 0.5", "\"tokens\": 4", "\"samples\": [{"})
    test::expect_contains(t, key);
  const auto c = classification_result().to_json({"neg", "pos"});
  for (const char* key :
       {"\"loss\": null", "\"accuracy\": 0.75", "\"macro_f1\"", "\"per_class\": {\"neg\": {",
        "\"confusion\": [[1, 1], [0, 2]]", "\"labels\": [\"neg\", \"pos\"]", "\"samples\": []"})
    test::expect_contains(c, key);
}

TEST(EvalResult, JsonParsesWithPython) {
  if (!test::python_has("json")) GTEST_SKIP() << "python3 not available";
  test::ScratchDir dir;
  test::write_text(dir.file("t.json"), transduction_result().to_json({}));
  test::write_text(dir.file("c.json"), classification_result().to_json({"neg", "pos"}));
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
  EXPECT_NEAR(result.loss, task_loss(logits, all.tgt, TaskKind::kTransduction).item<double>(),
              1e-5);
  TransductionMetrics expected;
  expected.add(predict_ids(logits), all.tgt, Vocab::kPadId);
  EXPECT_EQ(result.transduction.tokens, 3 + 2 + 1 + 3 + 2);
  EXPECT_EQ(result.transduction.correct_tokens, expected.correct_tokens);
  EXPECT_EQ(result.transduction.exact_sequences, expected.exact_sequences);

  ASSERT_EQ(result.samples.size(), 2u);
  EXPECT_EQ(result.samples[0].input, "abc");
  EXPECT_EQ(result.samples[0].target, "cba");
  const auto row = predict_ids(logits)[1].slice(0, 0, 2).contiguous();
  std::vector<int64_t> ids(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + 2);
  EXPECT_EQ(result.samples[1].predicted, decode(ids, spec.target, Tokenization::kChar));
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
  EvalResult e;
  e.task = task;
  e.examples = 10 + r;
  e.loss_units = 100 + 7 * r;
  e.loss_sum = 0.5 * static_cast<double>(e.loss_units) * (1.0 + static_cast<double>(r));
  e.transduction = {200 + r, 150 + 3 * r, 10 + r, 4 + 2 * r};
  auto& m = e.translation;
  m.sentences = 10 + r;
  m.exact = 2 + r;
  m.hypothesis_tokens = 90 + r;
  m.reference_tokens = 95 + 2 * r;
  for (int k = 0; k < 4; ++k) {
    m.matches[static_cast<size_t>(k)] = 40 - 5 * k + r;
    m.totals[static_cast<size_t>(k)] = 90 - 10 * k + 3 * r;
  }
  m.chrf_sum = 3.25 + 0.5 * static_cast<double>(r);
  if (task == TaskKind::kClassification) {
    e.classification.emplace(3);
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 3; ++j) e.classification->confusion[i][j] = 3 * i + j + 10 * r;
    e.classification->total = 36 + 90 * r;
    e.classification->correct = 12 + 30 * r;
  }
  return e;
}

TEST(SumOverRanksWorker, AddsEveryCounter) {
  if (!std::getenv("ATTNLAB_TEST_WORKER")) GTEST_SKIP() << "run by SumOverRanks.* through torchrun";
  ProcessGroup group(launch_env_from_environment(), std::chrono::seconds(30));
  ASSERT_EQ(group.world_size(), 2);
  for (const auto task : {TaskKind::kTransduction, TaskKind::kClassification}) {
    auto e = counters_of_rank(group.rank(), task);
    e.samples.push_back({"in", "out", "pred", false});  // a rank's own, kept as is
    sum_over_ranks(e, group, "a test result");
    const auto a = counters_of_rank(0, task), b = counters_of_rank(1, task);
    EXPECT_EQ(e.examples, a.examples + b.examples);
    EXPECT_EQ(e.loss_units, a.loss_units + b.loss_units);
    EXPECT_DOUBLE_EQ(e.loss_sum, a.loss_sum + b.loss_sum);
    EXPECT_DOUBLE_EQ(e.loss,
                     (a.loss_sum + b.loss_sum) / static_cast<double>(a.loss_units + b.loss_units));
    EXPECT_EQ(e.transduction.tokens, 401);
    EXPECT_EQ(e.transduction.correct_tokens, 303);
    EXPECT_EQ(e.transduction.sequences, 21);
    EXPECT_EQ(e.transduction.exact_sequences, 10);
    EXPECT_EQ(e.translation.sentences, 21);
    EXPECT_EQ(e.translation.exact, 5);
    EXPECT_EQ(e.translation.hypothesis_tokens, 181);
    EXPECT_EQ(e.translation.reference_tokens, 192);
    for (int k = 0; k < 4; ++k) {
      EXPECT_EQ(e.translation.matches[static_cast<size_t>(k)], 81 - 10 * k) << k;
      EXPECT_EQ(e.translation.totals[static_cast<size_t>(k)], 183 - 20 * k) << k;
    }
    EXPECT_DOUBLE_EQ(e.translation.chrf_sum, 7.0);
    EXPECT_EQ(e.samples.size(), 1u);
    if (task == TaskKind::kClassification) {
      ASSERT_TRUE(e.classification.has_value());
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 3; ++j)
          EXPECT_EQ(e.classification->confusion[i][j], 2 * (3 * i + j) + 10) << i << "," << j;
      EXPECT_EQ(e.classification->total, 162);
      EXPECT_EQ(e.classification->correct, 54);
    }
  }
}

}  // namespace
}  // namespace attnlab
