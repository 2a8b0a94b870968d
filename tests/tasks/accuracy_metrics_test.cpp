// Metrics on hand-made predictions with hand-computed expected values.
#include "tasks/accuracy_metrics.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace attnlab {
namespace {

torch::Tensor ids(std::vector<int64_t> v, std::vector<int64_t> shape) {
  return torch::tensor(v, torch::kLong).reshape(shape);
}

TEST(TransductionMetrics, TokenAccuracyAndExactMatchIgnorePadding) {
  TransductionMetrics m;
  // Row 0: all 3 tokens right, the padded tail predicted wrong (ignored) -> exact.
  // Row 1: 2 of 4 right. Row 2: 1 token, right -> exact. Row 3: 0 of 2 right.
  const auto target = ids({5, 6, 7, 0,  //
                           5, 5, 6, 6,  //
                           9, 0, 0, 0,  //
                           3, 4, 0, 0},
                          {4, 4});
  const auto predicted = ids({5, 6, 7, 9,  //
                              5, 6, 6, 5,  //
                              9, 3, 3, 3,  //
                              4, 3, 0, 0},
                             {4, 4});
  m.add(predicted, target, /*pad_id=*/0);
  EXPECT_EQ(m.tokens, 10);
  EXPECT_EQ(m.correct_tokens, 6);
  EXPECT_EQ(m.sequences, 4);
  EXPECT_EQ(m.exact_sequences, 2);
  EXPECT_DOUBLE_EQ(m.token_accuracy(), 0.6);
  EXPECT_DOUBLE_EQ(m.exact_match(), 0.5);

  // A second batch accumulates: 2 tokens, both right, one exact sequence.
  m.add(ids({1, 2}, {1, 2}), ids({1, 2}, {1, 2}), 0);
  EXPECT_DOUBLE_EQ(m.token_accuracy(), 8.0 / 12.0);
  EXPECT_DOUBLE_EQ(m.exact_match(), 3.0 / 5.0);
}

TEST(TransductionMetrics, EmptyIsZeroAndShapesMustMatch) {
  TransductionMetrics m;
  EXPECT_EQ(m.token_accuracy(), 0.0);
  EXPECT_EQ(m.exact_match(), 0.0);
  EXPECT_THROW(m.add(ids({1, 2}, {1, 2}), ids({1, 2}, {2, 1}), 0), c10::Error);
}

TEST(ClassificationMetrics, ConfusionPerClassAndMacroF1) {
  ClassificationMetrics m(3);
  // true:      0 0 0 0 1 1 1 2 2 2
  // predicted: 0 0 1 2 1 1 0 2 2 1
  m.add(ids({0, 0, 1, 2, 1, 1, 0, 2, 2, 1}, {10}), ids({0, 0, 0, 0, 1, 1, 1, 2, 2, 2}, {10}));
  const std::vector<std::vector<int64_t>> confusion = {{2, 1, 1}, {1, 2, 0}, {0, 1, 2}};
  EXPECT_EQ(m.confusion, confusion);
  EXPECT_EQ(m.total, 10);
  EXPECT_EQ(m.correct, 6);
  EXPECT_DOUBLE_EQ(m.accuracy(), 0.6);

  const auto r = m.per_class({"neg", "neu", "pos"});
  ASSERT_EQ(r.size(), 3u);
  // neg: tp 2, predicted 3, actual 4 -> P 2/3, R 1/2, F1 = 2*(1/3)/(7/6) = 4/7.
  EXPECT_EQ(r[0].label, "neg");
  EXPECT_EQ(r[0].support, 4);
  EXPECT_NEAR(r[0].precision, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(r[0].recall, 0.5, 1e-12);
  EXPECT_NEAR(r[0].f1, 4.0 / 7.0, 1e-12);
  // neu: tp 2, predicted 4, actual 3 -> P 1/2, R 2/3, F1 4/7.
  EXPECT_EQ(r[1].label, "neu");
  EXPECT_EQ(r[1].support, 3);
  EXPECT_NEAR(r[1].precision, 0.5, 1e-12);
  EXPECT_NEAR(r[1].recall, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(r[1].f1, 4.0 / 7.0, 1e-12);
  // pos: tp 2, predicted 3, actual 3 -> P = R = F1 = 2/3.
  EXPECT_EQ(r[2].support, 3);
  EXPECT_NEAR(r[2].precision, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(r[2].recall, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(r[2].f1, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(m.macro_f1(), (4.0 / 7.0 + 4.0 / 7.0 + 2.0 / 3.0) / 3.0, 1e-12);
}

TEST(ClassificationMetrics, NeverPredictedClassHasZeroScoresAndLabelsDefaultToIds) {
  ClassificationMetrics m(3);
  // Class 2 is never predicted and never true; class 1 is true once but never predicted.
  m.add(ids({0, 0, 0}, {3}), ids({0, 0, 1}, {3}));
  const auto r = m.per_class({});
  EXPECT_EQ(r[0].label, "0");
  EXPECT_EQ(r[2].label, "2");
  EXPECT_NEAR(r[0].precision, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(r[0].recall, 1.0, 1e-12);
  EXPECT_NEAR(r[0].f1, 0.8, 1e-12);
  EXPECT_EQ(r[1].precision, 0.0);
  EXPECT_EQ(r[1].recall, 0.0);
  EXPECT_EQ(r[1].f1, 0.0);
  EXPECT_EQ(r[2].support, 0);
  EXPECT_EQ(r[2].f1, 0.0);
  // Macro F1 averages over every class, including ones absent from the data.
  EXPECT_NEAR(m.macro_f1(), 0.8 / 3.0, 1e-12);
}

TEST(ClassificationMetrics, RejectsOutOfRangeIdsAndBadShapes) {
  ClassificationMetrics m(2);
  EXPECT_EQ(m.accuracy(), 0.0);
  EXPECT_THROW(m.add(ids({2}, {1}), ids({0}, {1})), c10::Error);
  EXPECT_THROW(m.add(ids({0}, {1}), ids({-1}, {1})), c10::Error);
  EXPECT_THROW(m.add(ids({0, 1}, {1, 2}), ids({0, 1}, {1, 2})), c10::Error);
}

}  // namespace
}  // namespace attnlab
