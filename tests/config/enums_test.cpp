#include "config/enums.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace attnlab {
namespace {

// Every name of E, in table order, reads back as its value, and the table has no duplicate.
template <typename E>
void expect_table(const std::vector<std::string>& names, const std::vector<E>& values) {
  ASSERT_EQ(enum_names<E>(), names);
  ASSERT_EQ(names.size(), values.size());
  std::set<E> seen;
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(enum_from_name<E>(names[i]), values[i]) << names[i];
    EXPECT_EQ(std::string(name_of(values[i])), names[i]);
    EXPECT_TRUE(seen.insert(values[i]).second) << names[i] << " twice";
  }
}

TEST(ConfigEnums, NameTablesAreTheDocumentedValues) {
  expect_table<TaskKind>({"transduction", "classification", "translation", "image_classification"},
                         {TaskKind::kTransduction, TaskKind::kClassification,
                          TaskKind::kTranslation, TaskKind::kImageClassification});
  expect_table<DataFormat>({"tsv", "idx", "png"},
                           {DataFormat::kTsv, DataFormat::kIdx, DataFormat::kPng});
  expect_table<Tokenization>(
      {"char", "word", "sentencepiece"},
      {Tokenization::kChar, Tokenization::kWord, Tokenization::kSentencepiece});
  expect_table<SpmModelType>({"unigram", "bpe"}, {SpmModelType::kUnigram, SpmModelType::kBpe});
  expect_table<NormPlacement>({"pre", "post"}, {NormPlacement::kPre, NormPlacement::kPost});
  expect_table<Activation>({"gelu", "relu"}, {Activation::kGelu, Activation::kRelu});
  expect_table<PositionKind>({"sinusoidal", "learned"},
                             {PositionKind::kSinusoidal, PositionKind::kLearned});
  expect_table<Pooling>({"cls", "mean"}, {Pooling::kCls, Pooling::kMean});
  expect_table<ScheduleKind>({"cosine", "linear", "inverse_sqrt", "constant"},
                             {ScheduleKind::kCosine, ScheduleKind::kLinear,
                              ScheduleKind::kInverseSqrt, ScheduleKind::kConstant});
  expect_table<Precision>({"auto", "fp32", "bf16"},
                          {Precision::kAuto, Precision::kFp32, Precision::kBf16});
  expect_table<BestMetric>({"auto", "loss", "accuracy", "exact_match", "bleu", "chrf"},
                           {BestMetric::kAuto, BestMetric::kLoss, BestMetric::kAccuracy,
                            BestMetric::kExactMatch, BestMetric::kBleu, BestMetric::kChrf});
  expect_table<CtcSplitAt>({"embedding", "encoder"},
                           {CtcSplitAt::kEmbedding, CtcSplitAt::kEncoder});
}

TEST(ConfigEnums, UnknownNamesAreRejectedExactly) {
  EXPECT_FALSE(enum_from_name<TaskKind>("regression"));
  EXPECT_FALSE(enum_from_name<Tokenization>("bpe"));
  EXPECT_FALSE(enum_from_name<PositionKind>("rotary"));
  EXPECT_FALSE(enum_from_name<Activation>("tanh"));
  EXPECT_FALSE(enum_from_name<Pooling>("max"));
  for (const char* bad : {"", "Cosine", "cos", "inverse-sqrt", "constant "})
    EXPECT_FALSE(enum_from_name<ScheduleKind>(bad)) << "'" << bad << "'";
  EXPECT_FALSE(enum_from_name<Precision>("fp16"));
  EXPECT_FALSE(enum_from_name<BestMetric>("f1"));
}

}  // namespace
}  // namespace attnlab
