#include "data/dataset.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <string>
#include <vector>

namespace attnlab {
namespace {

using Ids = std::vector<int64_t>;

std::string error_of(const std::vector<Example>& examples, const DatasetOptions& options,
                     const Vocabularies& vocabs) {
  try {
    Dataset(examples, options, vocabs, "split.tsv");
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

DatasetOptions transduction_words(int64_t max_len = 16) {
  return DatasetOptions{TaskKind::kTransduction, Tokenization::kWord, max_len};
}

DatasetOptions classification_words(int64_t max_len = 16) {
  return DatasetOptions{TaskKind::kClassification, Tokenization::kWord, max_len};
}

TEST(DatasetTest, BuildsVocabulariesFromTrain) {
  const std::vector<Example> train = {{"a b b", "x y y", 1}, {"b c", "y z", 2}};
  const auto vocabs = build_vocabularies(train, transduction_words(), "train.tsv");
  // b=3, a=1, c=1 -> b, a, c after the specials.
  EXPECT_EQ(vocabs.source.tokens(),
            (std::vector<std::string>{"<pad>", "<unk>", "<cls>", "b", "a", "c"}));
  ASSERT_TRUE(vocabs.target.has_value());
  EXPECT_EQ(vocabs.target->tokens(),
            (std::vector<std::string>{"<pad>", "<unk>", "<cls>", "y", "x", "z"}));
  EXPECT_FALSE(vocabs.labels.has_value());

  const auto cls =
      build_vocabularies({{"good", "pos", 1}, {"bad", "neg", 2}}, classification_words(), "t.tsv");
  ASSERT_TRUE(cls.labels.has_value());
  EXPECT_EQ(cls.labels->labels(), (std::vector<std::string>{"neg", "pos"}));
  EXPECT_FALSE(cls.target.has_value());
  try {
    build_vocabularies({}, transduction_words(), "train.tsv");
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_STREQ(e.what(), "train.tsv: no examples");
  }
}

TEST(DatasetTest, TransductionBatchIsPaddedByHand) {
  const std::vector<Example> train = {{"a b b", "x y y", 1}, {"b c", "y z", 2}};
  const auto options = transduction_words();
  const auto vocabs = build_vocabularies(train, options, "train.tsv");
  // source ids: b=3 a=4 c=5; target ids: y=3 x=4 z=5; "q"/"w" are unseen -> <unk>=1.
  const Dataset data({{"a b b", "x y y", 1}, {"b c", "y z", 2}, {"q", "w", 3}}, options, vocabs,
                     "valid.tsv");
  ASSERT_EQ(data.size(), 3);
  EXPECT_EQ(data.source(0), (Ids{4, 3, 3}));
  EXPECT_EQ(data.target(1), (Ids{3, 5}));
  EXPECT_EQ(data.lengths(), (Ids{3, 2, 1}));

  const Batch batch = data.batch({1, 0, 2});
  const auto expected_src =
      torch::tensor({3, 5, 0, 4, 3, 3, 1, 0, 0}, torch::kLong).view({3, 3});  // (B, T)
  const auto expected_tgt =
      torch::tensor({3, 5, 0, 4, 3, 3, 1, 0, 0}, torch::kLong).view({3, 3});  // (B, T)
  EXPECT_EQ(batch.src.sizes(), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(batch.src.scalar_type(), torch::kLong);
  EXPECT_TRUE(torch::equal(batch.src, expected_src)) << batch.src;
  EXPECT_TRUE(torch::equal(batch.tgt, expected_tgt)) << batch.tgt;
  EXPECT_EQ(batch.num_tokens, 6);

  const Batch single = data.batch({2});  // T is the longest in this batch only
  EXPECT_EQ(single.src.sizes(), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(single.num_tokens, 1);
}

TEST(DatasetTest, ClassificationBatchHasClsAndLabels) {
  const auto options = classification_words();
  const std::vector<Example> train = {
      {"not good", "negative", 1}, {"good", "positive", 2}, {"fine", "neutral", 3}};
  const auto vocabs = build_vocabularies(train, options, "train.tsv");
  // source: good=3 (count 2), fine=4, not=5; labels: negative=0 neutral=1 positive=2.
  const Dataset data(train, options, vocabs, "train.tsv");
  EXPECT_EQ(data.source(0), (Ids{Vocab::kClsId, 5, 3}));
  EXPECT_EQ(data.label(0), 0);
  EXPECT_EQ(data.lengths(), (Ids{3, 2, 2}));

  const Batch batch = data.batch({2, 0});
  const auto expected_src = torch::tensor({2, 4, 0, 2, 5, 3}, torch::kLong).view({2, 3});  // (B, T)
  EXPECT_TRUE(torch::equal(batch.src, expected_src)) << batch.src;
  EXPECT_EQ(batch.tgt.sizes(), (std::vector<int64_t>{2}));
  EXPECT_TRUE(torch::equal(batch.tgt, torch::tensor({1, 0}, torch::kLong))) << batch.tgt;
  EXPECT_EQ(batch.num_tokens, 2);
}

TEST(DatasetTest, CharTokenizationKeepsSpaces) {
  const DatasetOptions options{TaskKind::kTransduction, Tokenization::kChar, 8};
  const std::vector<Example> train = {{"ab c", "c ba", 1}};
  const auto vocabs = build_vocabularies(train, options, "train.tsv");
  const Dataset data(train, options, vocabs, "train.tsv");
  EXPECT_EQ(data.lengths(), (Ids{4}));
}

TEST(DatasetTest, LengthMismatchNamesLine) {
  const auto options = transduction_words();
  const auto vocabs = build_vocabularies({{"a b", "x y", 1}}, options, "train.tsv");
  EXPECT_EQ(error_of({{"a b", "x y", 1}, {"a b c", "x y", 7}}, options, vocabs),
            "split.tsv:7: target has 2 tokens but source has 3; transduction needs equal lengths");
}

DatasetOptions translation_words(int64_t upsample) {
  DatasetOptions o{TaskKind::kTranslation, Tokenization::kWord, 16};
  o.ctc_upsample = upsample;
  return o;
}

TEST(DatasetTest, TranslationTargetsOfAnyLengthArePaddedToTheLongest) {
  const auto options = translation_words(2);
  const std::vector<Example> train = {{"a b c", "x", 1}, {"a", "y x", 2}};
  const auto vocabs = build_vocabularies(train, options, "train.tsv");
  const Dataset data(train, options, vocabs, "train.tsv");
  const auto batch = data.batch({0, 1});
  // Target vocab: <pad> <unk> <cls>, then x (2 uses), y.
  EXPECT_TRUE(batch.src.equal(torch::tensor({{3, 4, 5}, {3, 0, 0}}, torch::kLong)));
  EXPECT_TRUE(batch.tgt.equal(torch::tensor({{3, 0}, {4, 3}}, torch::kLong)));
  EXPECT_EQ(batch.num_tokens, 3);
}

TEST(DatasetTest, TranslationPairCtcCannotRepresentNamesLineAndNumbers) {
  const auto vocabs = build_vocabularies({{"a b", "x y", 1}}, translation_words(2), "train.tsv");
  // 5 target tokens from 2 source tokens: 4 positions with k = 2.
  EXPECT_EQ(error_of({{"a b", "x y", 1}, {"a b", "x y x y x", 9}}, translation_words(2), vocabs),
            "split.tsv:9: target needs 5 CTC positions (5 tokens) but the source gives 2 x 2 = 4 "
            "(model.ctc.upsample=2); raise model.ctc.upsample or drop the pair");
  // Repeats need a blank between them: "x x y" needs 4 positions, more than 1 x 3.
  EXPECT_EQ(
      error_of({{"a b c", "x x y", 3}}, translation_words(1), vocabs),
      "split.tsv:3: target needs 4 CTC positions (3 tokens + 1 blanks between repeats) but the "
      "source gives 1 x 3 = 3 (model.ctc.upsample=1); raise model.ctc.upsample or drop the pair");
  EXPECT_EQ(error_of({{"a b", "x y x y", 1}}, translation_words(2), vocabs), "");  // exactly fits
  EXPECT_EQ(ctc_min_positions({1, 1, 1, 2, 2}), 8);  // 5 tokens + 3 equal neighbours
}

TEST(DatasetTest, SkipUnfitDropsTooLongAndCtcInfeasiblePairsAndCountsThem) {
  auto options = translation_words(2);
  options.max_len = 3;
  options.skip_unfit = true;
  const auto vocabs = build_vocabularies({{"a b", "x y", 1}}, options, "train.tsv");
  const std::vector<Example> split = {{"a", "x", 1},
                                      {"a b", "x y x y x", 2},  // needs 5 > 2 x 2 positions
                                      {"a b a b", "x", 3},      // 4 tokens > max_len 3
                                      {"b a", "y y", 4}};       // 3 positions of 4: fits
  const Dataset data(split, options, vocabs, "split.tsv");
  ASSERT_EQ(data.size(), 2);
  EXPECT_EQ(data.skipped(), 2);
  EXPECT_EQ(data.first_skipped(), "line 2: target needs more CTC positions than the source gives");
  EXPECT_EQ(data.example(1).line, 4);  // examples, sources and targets stay aligned
  EXPECT_EQ(data.source(1), (Ids{4, 3}));
  EXPECT_EQ(data.target(1), (Ids{4, 4}));
  EXPECT_EQ(
      error_of({{"a b a b", "x", 7}}, options, vocabs),
      "split.tsv: none of its 1 examples fits (data.skip_unfit dropped them all; first: line 7: "
      "source longer than max_len)");
  options.skip_unfit = false;  // the default: the first unfit pair is an error
  EXPECT_NE(error_of(split, options, vocabs).find("split.tsv:2: target needs 5 CTC positions"),
            std::string::npos);
}

TEST(DatasetTest, MaxLenNamesLineAndLength) {
  const auto vocabs = build_vocabularies({{"a b", "x y", 1}}, transduction_words(), "train.tsv");
  EXPECT_EQ(error_of({{"a b", "x y", 1}, {"a a a", "x x x", 2}}, transduction_words(2), vocabs),
            "split.tsv:2: source has 3 tokens, more than max_len=2");
  EXPECT_EQ(error_of({{"a b", "x y", 1}}, transduction_words(2), vocabs),
            "");  // exactly max_len is fine

  // Classification counts <cls>: two words are three tokens.
  const auto cls = build_vocabularies({{"a", "p", 1}}, classification_words(), "train.tsv");
  EXPECT_EQ(error_of({{"a", "p", 4}, {"a b", "p", 5}}, classification_words(2), cls),
            "split.tsv:5: source has 3 tokens (with <cls>), more than max_len=2");
}

TEST(DatasetTest, UnseenLabelNamesLineAndKnownLabels) {
  const auto options = classification_words();
  const auto vocabs =
      build_vocabularies({{"a", "positive", 1}, {"b", "negative", 2}}, options, "train.tsv");
  EXPECT_EQ(error_of({{"a", "positive", 1}, {"b", "neutral", 2}}, options, vocabs),
            "split.tsv:2: unknown label 'neutral'; known labels: negative, positive");
}

TEST(DatasetTest, EmptySplitAndEmptyTokens) {
  const auto options = transduction_words();
  const auto vocabs = build_vocabularies({{"a", "x", 1}}, options, "train.tsv");
  EXPECT_EQ(error_of({}, options, vocabs), "split.tsv: no examples");
  EXPECT_EQ(error_of({{"a", "x", 1}, {"  ", " ", 3}}, options, vocabs),
            "split.tsv:3: source has no tokens");
}

TEST(EpochOrderTest, IsAPermutationThatDependsOnSeedAndEpoch) {
  constexpr int64_t kN = 50;
  const auto order = epoch_order(kN, /*seed=*/7, /*epoch=*/0);
  Ids sorted = order;
  std::sort(sorted.begin(), sorted.end());
  Ids iota(kN);
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_EQ(sorted, iota);
  EXPECT_NE(order, iota);

  EXPECT_EQ(epoch_order(kN, 7, 0), order);  // same seed and epoch: same order
  EXPECT_NE(epoch_order(kN, 7, 1), order);  // next epoch differs
  EXPECT_NE(epoch_order(kN, 8, 0), order);  // other seed differs
  std::set<Ids> epochs;
  for (int64_t epoch = 0; epoch < 10; ++epoch) epochs.insert(epoch_order(kN, 7, epoch));
  EXPECT_EQ(epochs.size(), 10u);
  EXPECT_TRUE(epoch_order(0, 7, 0).empty());
}

TEST(EpochOrderTest, MatchesPythonReference) {
  // Expected orders from an independent Python implementation of mt19937_64 (checked against
  // the standard's value 9981545732273789042 for the 10000th draw), SplitMix64 seeding and
  // Fisher-Yates with rejection sampling. Any compiler must give exactly these.
  EXPECT_EQ(epoch_order(8, /*seed=*/1, /*epoch=*/0), (Ids{5, 0, 1, 3, 7, 2, 4, 6}));
  EXPECT_EQ(epoch_order(8, /*seed=*/1, /*epoch=*/1), (Ids{1, 2, 7, 5, 6, 4, 0, 3}));
  EXPECT_EQ(epoch_order(12, /*seed=*/42, /*epoch=*/3), (Ids{4, 10, 0, 9, 5, 1, 8, 11, 6, 2, 3, 7}));
}

TEST(MakeBatchesTest, CutsInOrder) {
  const Ids order = {4, 0, 3, 1, 2};
  const Ids lengths = {1, 1, 1, 1, 1};
  const auto batches = make_batches(order, lengths, BatchingOptions{2, 0, false});
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0], (Ids{4, 0}));
  EXPECT_EQ(batches[1], (Ids{3, 1}));
  EXPECT_EQ(batches[2], (Ids{2}));
  EXPECT_EQ(make_batches(order, lengths, BatchingOptions{2, 0, true}).size(), 2u);
}

TEST(MakeBatchesTest, BucketsSortWithinChunksOnly) {
  const Ids order = {0, 1, 2, 3, 4, 5, 6};
  const Ids lengths = {5, 1, 3, 1, 9, 2, 0};
  // Chunks of 2 batches x 2 = 4 indices: {0,1,2,3} -> by length 1(1),3(1),2(3),0(5) (stable);
  // then {4,5,6} -> 6(0),5(2),4(9).
  const auto batches = make_batches(order, lengths, BatchingOptions{2, 2, false});
  ASSERT_EQ(batches.size(), 4u);
  EXPECT_EQ(batches[0], (Ids{1, 3}));
  EXPECT_EQ(batches[1], (Ids{2, 0}));
  EXPECT_EQ(batches[2], (Ids{6, 5}));
  EXPECT_EQ(batches[3], (Ids{4}));
}

}  // namespace
}  // namespace attnlab
