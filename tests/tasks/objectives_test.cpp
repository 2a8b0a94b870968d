// The objectives of tests/tasks/registry.h's tasks: each loss against a cross-entropy written
// out by hand (or PyTorch's CTC, in ctc_test), decoding to ids and text, the logits predict
// shows, and the running accuracy training logs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <array>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "data/vocab.h"
#include "tasks/ctc.h"
#include "tasks/registry.h"

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

ModelOutput output_of(const torch::Tensor& logits) {
  ModelOutput o;
  o.logits = logits;
  return o;
}

std::unique_ptr<Objective> objective_of(TaskKind task) {
  TaskSpec spec;
  spec.task = task;
  spec.tokenizer = Tokenizer(Tokenization::kWord);
  spec.target = Vocab::from_tokens({"<pad>", "<unk>", "<cls>", "ab", "c", "d"});
  spec.labels = LabelSet::from_ordered({"neg", "pos", "mixed"});
  return make_objective(spec);
}

TEST(Objectives, TransductionIgnoresPadding) {
  torch::manual_seed(0);
  constexpr int64_t kB = 3, kT = 4, kV = 6;
  const auto logits = torch::randn({kB, kT, kV}) * 3;
  auto target = torch::randint(1, kV, {kB, kT}, torch::kLong);
  target[0][3] = Vocab::kPadId;
  target[2][2] = Vocab::kPadId;
  target[2][3] = Vocab::kPadId;
  for (const double smoothing : {0.0, 0.1, 0.3}) {
    const auto loss =
        objective_of(TaskKind::kTransduction)->loss(output_of(logits), target, smoothing);
    EXPECT_EQ(loss.dim(), 0);
    EXPECT_NEAR(loss.item<double>(),
                hand_cross_entropy(logits.reshape({-1, kV}), target.reshape({-1}), smoothing,
                                   Vocab::kPadId),
                1e-5)
        << "smoothing " << smoothing;
  }
}

TEST(Objectives, ClassificationCountsEveryExampleAndClassZero) {
  torch::manual_seed(1);
  const auto logits = torch::randn({5, 3}) * 2;
  const auto target = torch::tensor({0, 2, 1, 0, 0}, torch::kLong);  // class 0 is not padding
  for (const double smoothing : {0.0, 0.2}) {
    EXPECT_NEAR(objective_of(TaskKind::kClassification)
                    ->loss(output_of(logits), target, smoothing)
                    .item<double>(),
                hand_cross_entropy(logits, target, smoothing, /*ignore=*/-1), 1e-5);
  }
}

TEST(Objectives, Bf16LogitsAreScoredInFloat32AndGradientsFlow) {
  torch::manual_seed(2);
  const auto logits = (torch::randn({2, 3, 5}) * 2).to(torch::kBFloat16).requires_grad_();
  const auto target = torch::randint(1, 5, {2, 3}, torch::kLong);
  const auto loss = objective_of(TaskKind::kTransduction)->loss(output_of(logits), target);
  EXPECT_EQ(loss.scalar_type(), torch::kFloat);
  EXPECT_NEAR(loss.item<double>(),
              hand_cross_entropy(logits.detach().reshape({-1, 5}), target.reshape({-1}), 0.0, 0),
              1e-5);
  loss.backward();
  ASSERT_TRUE(logits.grad().defined());
  EXPECT_GT(logits.grad().abs().sum().item<double>(), 0.0);
}

// Per-token labels decode each row's argmax over its non-pad input positions, detokenized:
// word tokens joined by spaces, char tokens concatenated.
TEST(Objectives, PerTokenLabelsDecodeTheArgmaxOfEachInputPosition) {
  auto logits = torch::zeros({2, 3, 6});  // (B, T, V)
  for (const auto& [b, t, v] : std::vector<std::array<int64_t, 3>>{
           {0, 0, 3}, {0, 1, 4}, {0, 2, 3}, {1, 0, 5}, {1, 1, 4}, {1, 2, 3}})
    logits[b][t][v] = 1.0;
  const auto input = torch::tensor({{7, 8, 9}, {7, 8, 0}}, torch::kLong);  // row 1: 2 tokens
  const auto objective = objective_of(TaskKind::kTransduction);
  const auto decoded = objective->decode(output_of(logits), input, 1);
  ASSERT_EQ(decoded.size(), 2u);
  EXPECT_EQ(decoded[0].ids, (std::vector<int64_t>{3, 4, 3}));
  EXPECT_EQ(decoded[0].text, "ab c ab");
  EXPECT_EQ(decoded[1].ids, (std::vector<int64_t>{5, 4}));
  EXPECT_EQ(decoded[1].text, "d c");
  EXPECT_EQ(objective->row_logits(output_of(logits), input, 1).sizes(),
            (std::vector<int64_t>{2, 6}));
  EXPECT_EQ(objective->output_names()[3], "ab");
  // Running accuracy: per non-pad target token.
  Batch batch;
  batch.src = input;
  batch.tgt = torch::tensor({{3, 4, 4}, {5, 3, 0}}, torch::kLong);  // 2 + 1 of 5 right
  batch.num_tokens = 5;
  const auto running = objective->running_accuracy(batch, logits);
  EXPECT_DOUBLE_EQ(running.correct, 3.0);
  EXPECT_DOUBLE_EQ(running.units, 5.0);
  EXPECT_EQ(objective->default_best_metric(), BestMetric::kExactMatch);

  TaskSpec chars;
  chars.tokenizer = Tokenizer(Tokenization::kChar);
  chars.target = Vocab::from_tokens({"<pad>", "<unk>", "<cls>", "ab", "c", " "});
  auto spaced = torch::zeros({1, 3, 6});
  spaced[0][0][4] = 1.0;
  spaced[0][1][5] = 1.0;
  spaced[0][2][4] = 1.0;
  EXPECT_EQ(make_objective(chars)->decode(output_of(spaced), input.narrow(0, 0, 1), 1)[0].text,
            "c c");
}

// One label per sequence: the argmax class's name.
TEST(Objectives, LabelsDecodeToTheClassName) {
  const auto objective = objective_of(TaskKind::kClassification);
  const auto logits = torch::tensor({{0.1f, 0.9f, 0.3f}, {2.0f, -1.0f, 0.0f}});  // (B, K)
  const auto decoded = objective->decode(output_of(logits), torch::zeros({2, 4}, torch::kLong), 1);
  EXPECT_EQ(decoded[0].text, "pos");
  EXPECT_EQ(decoded[1].ids, (std::vector<int64_t>{0}));
  EXPECT_EQ(decoded[1].text, "neg");
  EXPECT_EQ(objective->output_names(), (std::vector<std::string>{"neg", "pos", "mixed"}));
  EXPECT_EQ(objective->default_best_metric(), BestMetric::kAccuracy);
  EXPECT_EQ(objective_of(TaskKind::kImageClassification)->default_best_metric(),
            BestMetric::kAccuracy);
  EXPECT_STREQ(objective->examples_noun(), "examples");
}

// CTC: greedy decoding over each row's valid positions (merge repeats, drop blanks), the blank
// named in the outputs, and exact match as the running accuracy.
TEST(Objectives, CtcDecodesGreedilyOverTheValidPositions) {
  const auto objective = objective_of(TaskKind::kTranslation);
  auto logits = torch::zeros({2, 4, 6});  // (B, T*k, V), k = 2
  const std::vector<std::vector<int64_t>> best = {{3, 3, 0, 4}, {5, 0, 5, 3}};
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t t = 0; t < 4; ++t) logits[b][t][best[b][t]] = 2.0;
  ModelOutput output = output_of(logits);
  output.lengths = torch::tensor({4, 2}, torch::kLong);  // row 1: its last 2 positions padding
  const auto decoded = objective->decode(output, torch::tensor({{7, 8}, {7, 0}}), 1);
  EXPECT_EQ(decoded[0].ids, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(decoded[0].text, "ab c");
  EXPECT_EQ(decoded[1].ids, (std::vector<int64_t>{5}));
  EXPECT_EQ(objective->row_logits(output, {}, 1).sizes(), (std::vector<int64_t>{2, 6}));
  EXPECT_EQ(objective->output_names()[kCtcBlank], "<blank>");
  EXPECT_EQ(objective->decoding_name(1), "greedy CTC");
  EXPECT_EQ(objective->decoding_name(4), "CTC beam 4");
  EXPECT_EQ(objective->default_best_metric(), BestMetric::kBleu);
  Batch batch;
  batch.src = torch::tensor({{7, 8}, {7, 0}}, torch::kLong);
  batch.tgt = torch::tensor({{3, 4}, {5, 5}}, torch::kLong);  // row 0 right, row 1 wrong
  batch.num_tokens = 4;
  const auto running = objective->running_accuracy(batch, logits);
  EXPECT_DOUBLE_EQ(running.correct, 1.0);
  EXPECT_DOUBLE_EQ(running.units, 2.0);
  EXPECT_EQ(objective->loss_units(batch), 4);
}

}  // namespace
}  // namespace attnlab
