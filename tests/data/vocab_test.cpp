#include "data/vocab.h"

#include <c10/util/Exception.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace attnlab {
namespace {

using Tokens = std::vector<std::string>;

TEST(TokenizeTest, CharKeepsSpacesAndCodePoints) {
  EXPECT_EQ(tokenize("ab c", Tokenization::kChar), (Tokens{"a", "b", " ", "c"}));
  EXPECT_EQ(tokenize("née €", Tokenization::kChar), (Tokens{"n", "é", "e", " ", "€"}));
  EXPECT_EQ(tokenize("", Tokenization::kChar), Tokens{});
  EXPECT_EQ(detokenize({"n", "é", " ", "x"}, Tokenization::kChar), "né x");
}

TEST(TokenizeTest, WordSplitsOnWhitespaceRuns) {
  EXPECT_EQ(tokenize("  the  big\tdog ", Tokenization::kWord), (Tokens{"the", "big", "dog"}));
  EXPECT_EQ(tokenize("é,x y", Tokenization::kWord), (Tokens{"é,x", "y"}));
  EXPECT_EQ(tokenize("   ", Tokenization::kWord), Tokens{});
  EXPECT_EQ(detokenize({"the", "dog"}, Tokenization::kWord), "the dog");
}

TEST(TokenizeTest, RejectsInvalidUtf8) {
  EXPECT_THROW(tokenize("a\xFF", Tokenization::kChar), std::invalid_argument);
}

TEST(VocabTest, SpecialsComeFirst) {
  const Vocab vocab;
  EXPECT_EQ(vocab.size(), 3);
  EXPECT_EQ(Vocab::kPadId, 0);
  EXPECT_EQ(Vocab::kUnkId, 1);
  EXPECT_EQ(Vocab::kClsId, 2);
  EXPECT_EQ(vocab.token(0), "<pad>");
  EXPECT_EQ(vocab.token(1), "<unk>");
  EXPECT_EQ(vocab.token(2), "<cls>");
}

TEST(VocabTest, BuildOrdersByCountThenBytes) {
  // counts: b=3, a=2, c=2, Z=1, d=1 ("Z" < "d" byte-wise); "<unk>" is not added again.
  const Vocab vocab = Vocab::build({{"c", "a", "b"}, {"b", "d", "c"}, {"a", "b", "Z", "<unk>"}});
  EXPECT_EQ(vocab.tokens(), (Tokens{"<pad>", "<unk>", "<cls>", "b", "a", "c", "Z", "d"}));
  EXPECT_EQ(vocab.id("b"), 3);
  EXPECT_EQ(vocab.id("d"), 7);
  EXPECT_EQ(vocab.id("never seen"), Vocab::kUnkId);
  EXPECT_EQ(vocab.id("<unk>"), Vocab::kUnkId);
  EXPECT_TRUE(vocab.contains("Z"));
  EXPECT_FALSE(vocab.contains("e"));
  EXPECT_EQ(vocab.encode({"a", "zzz", "d"}), (std::vector<int64_t>{4, 1, 7}));
  EXPECT_EQ(vocab.decode({3, 0}), (Tokens{"b", "<pad>"}));
}

TEST(VocabTest, BuildIgnoresDataOrder) {
  const Vocab one = Vocab::build({{"x", "y"}, {"y", "z"}});
  const Vocab two = Vocab::build({{"z", "y"}, {"y", "x"}});
  EXPECT_EQ(one.tokens(), two.tokens());
}

TEST(VocabTest, TokenOutOfRangeThrows) {
  const Vocab vocab;
  EXPECT_THROW(vocab.token(3), c10::Error);
  EXPECT_THROW(vocab.token(-1), c10::Error);
}

TEST(VocabTest, FromTokensValidates) {
  const Vocab vocab = Vocab::from_tokens({"<pad>", "<unk>", "<cls>", "x", "y"});
  EXPECT_EQ(vocab.id("y"), 4);
  EXPECT_THROW(Vocab::from_tokens({"<unk>", "<pad>", "<cls>"}), std::invalid_argument);
  EXPECT_THROW(Vocab::from_tokens({"<pad>", "<unk>"}), std::invalid_argument);
  EXPECT_THROW(Vocab::from_tokens({"<pad>", "<unk>", "<cls>", "x", "x"}), std::invalid_argument);
  EXPECT_THROW(Vocab::from_tokens({"<pad>", "<unk>", "<cls>", ""}), std::invalid_argument);
}

TEST(LabelSetTest, SortedUniqueLookups) {
  const LabelSet labels = LabelSet::from_labels({"positive", "negative", "neutral", "positive"});
  EXPECT_EQ(labels.labels(), (Tokens{"negative", "neutral", "positive"}));
  EXPECT_EQ(labels.size(), 3);
  EXPECT_EQ(labels.id("neutral"), 1);
  EXPECT_EQ(labels.find("mixed"), -1);
  EXPECT_THROW(labels.id("mixed"), c10::Error);
  EXPECT_EQ(labels.label(2), "positive");
  EXPECT_THROW(labels.label(3), c10::Error);
  EXPECT_EQ(labels.joined(), "negative, neutral, positive");
  EXPECT_THROW(LabelSet::from_labels({"a", ""}), std::invalid_argument);
}

}  // namespace
}  // namespace attnlab
