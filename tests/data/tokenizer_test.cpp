// Tokenizer: char and word as tokenize() defines them; SentencePiece trained in memory, checked
// against Debian's python3-sentencepiece reading the same model bytes (the outside reference),
// plus round trips, determinism and the errors a user meets.
#include "data/tokenizer.h"

#include <c10/util/Exception.h>
#include <gtest/gtest.h>

#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "data/vocab.h"
#include "support/common.h"

namespace attnlab {
namespace {

using Tokens = std::vector<std::string>;

// "elephant" is in every line, so any model of a few dozen pieces keeps it whole.
std::vector<std::string> corpus(int lines) {
  const std::vector<std::string> words = {
      "red",    "green",  "blue",   "yellow", "cat",     "dog",     "bird",    "horse",
      "runs",   "eats",   "sleeps", "jumps",  "big",     "small",   "quick",   "lazy",
      "river",  "forest", "window", "garden", "kitchen", "morning", "evening", "winter",
      "summer", "quiet",  "loud",   "happy",  "strange", "gentle",  "bright",  "heavy"};
  const auto W = static_cast<int>(words.size());
  std::vector<std::string> out;
  for (int i = 0; i < lines; ++i)
    out.push_back("the elephant " + words[i % W] + " " + words[(i * 7 + 3) % W] + " " +
                  words[(i * 13 + 5) % W] + " " + std::to_string(i % 100));
  return out;
}

// The message of the std::invalid_argument `f` throws; "" (and a failure) otherwise.
std::string invalid_argument_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "no std::invalid_argument thrown";
  return "";
}

SentencePieceOptions spm_options(int64_t vocab_size, SpmModelType type = SpmModelType::kUnigram) {
  SentencePieceOptions o;
  o.vocab_size = vocab_size;
  o.model_type = type;
  return o;
}

const Tokenizer& unigram() {
  static const Tokenizer t = Tokenizer::train_sentencepiece(corpus(300), spm_options(60));
  return t;
}

TEST(TokenizerTest, CharAndWordAreTokenize) {
  const Tokenizer word(Tokenization::kWord);
  EXPECT_EQ(word.tokenize("  the  big\tdog "), tokenize("  the  big\tdog ", Tokenization::kWord));
  EXPECT_EQ(word.detokenize({"the", "dog"}), "the dog");
  const Tokenizer chars;  // the default
  EXPECT_EQ(chars.kind(), Tokenization::kChar);
  EXPECT_EQ(chars.tokenize("né x"), (Tokens{"n", "é", " ", "x"}));
  EXPECT_EQ(chars.detokenize({"n", "é", " ", "x"}), "né x");
  EXPECT_EQ(word.describe(), "word");
  EXPECT_TRUE(word.sentencepiece_model().empty());
  EXPECT_THROW(Tokenizer(Tokenization::kSentencepiece), c10::Error);
  EXPECT_THROW(tokenize("abc", Tokenization::kSentencepiece), std::invalid_argument);
}

TEST(TokenizerTest, SentencePieceHasTheRequestedPiecesAndBpeKeepsFrequentWordsWhole) {
  ATTNLAB_SKIP_WITHOUT_SENTENCEPIECE();
  for (const auto type : {SpmModelType::kUnigram, SpmModelType::kBpe}) {
    const auto t = Tokenizer::train_sentencepiece(corpus(300), spm_options(80, type));
    SCOPED_TRACE(name_of(type));
    EXPECT_EQ(t.kind(), Tokenization::kSentencepiece);
    EXPECT_EQ(t.describe(), "sentencepiece (80 pieces)");
    EXPECT_FALSE(t.sentencepiece_model().empty());
    // BPE merges the most frequent pairs first, so a word of every line ends up whole. (Unigram
    // on this tiny, repetitive corpus keeps short pieces; its pieces are checked against Python's
    // SentencePiece below.)
    if (type == SpmModelType::kBpe) {
      EXPECT_EQ(t.tokenize("the elephant"), (Tokens{"▁the", "▁elephant"}));
    }
  }
}

TEST(TokenizerTest, SentencePieceRoundTripsNormalisedText) {
  ATTNLAB_SKIP_WITHOUT_SENTENCEPIECE();
  const auto& t = unigram();
  for (const auto& line : corpus(40)) EXPECT_EQ(t.detokenize(t.tokenize(line)), line);
  EXPECT_EQ(t.detokenize(t.tokenize("the bird sleeps 7")), "the bird sleeps 7");  // unseen line
  // nmt_nfkc: whitespace runs collapse, the ends are trimmed.
  EXPECT_EQ(t.detokenize(t.tokenize("  the   elephant ")), "the elephant");
  // A character never seen in training is one unknown piece; the text survives encoding.
  const auto pieces = t.tokenize("the Ω");
  ASSERT_FALSE(pieces.empty());
  EXPECT_EQ(pieces.back(), "Ω");
  EXPECT_TRUE(t.tokenize("").empty());
  EXPECT_THROW(t.tokenize("a\xFF"), std::invalid_argument);
}

TEST(TokenizerTest, SentencePieceTrainingIsDeterministicAndTheTypeMatters) {
  ATTNLAB_SKIP_WITHOUT_SENTENCEPIECE();
  const auto a = Tokenizer::train_sentencepiece(corpus(300), spm_options(60));
  EXPECT_EQ(a.sentencepiece_model(), unigram().sentencepiece_model());
  const auto bpe = Tokenizer::train_sentencepiece(corpus(300), spm_options(60, SpmModelType::kBpe));
  EXPECT_NE(bpe.sentencepiece_model(), a.sentencepiece_model());
}

TEST(TokenizerTest, SentencePieceSaysWhenTheVocabularyIsTooLarge) {
  ATTNLAB_SKIP_WITHOUT_SENTENCEPIECE();
  const auto message =
      invalid_argument_of([] { Tokenizer::train_sentencepiece(corpus(50), spm_options(5000)); });
  test::expect_contains(message, "SentencePiece training failed: Vocabulary size too high (5000)");
  test::expect_contains(message, "Please set it to a value <=");
  EXPECT_THROW(Tokenizer::train_sentencepiece({}, spm_options(10)), std::invalid_argument);
}

TEST(TokenizerTest, LoadsSerializedModelsAndRejectsOtherBytes) {
  ATTNLAB_SKIP_WITHOUT_SENTENCEPIECE();
  const auto loaded = Tokenizer::load_sentencepiece(unigram().sentencepiece_model());
  EXPECT_EQ(loaded.sentencepiece_model(), unigram().sentencepiece_model());
  for (const auto& line : corpus(20)) EXPECT_EQ(loaded.tokenize(line), unigram().tokenize(line));
  EXPECT_THROW(Tokenizer::load_sentencepiece("not a model"), std::invalid_argument);
  EXPECT_THROW(Tokenizer::load_sentencepiece(""), std::invalid_argument);
  std::string truncated = unigram().sentencepiece_model();
  truncated.resize(truncated.size() / 3);
  test::expect_contains(invalid_argument_of([&] { Tokenizer::load_sentencepiece(truncated); }),
                        "not a SentencePiece model");
}

TEST(TokenizerTest, CopiesShareTheModelAcrossThreads) {
  ATTNLAB_SKIP_WITHOUT_SENTENCEPIECE();
  const Tokenizer copy = unigram();
  const auto lines = corpus(200);
  std::vector<Tokens> expected;
  for (const auto& line : lines) expected.push_back(unigram().tokenize(line));
  std::vector<int> mismatches(2, 0);
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w)
    threads.emplace_back([&, w] {
      for (size_t i = 0; i < lines.size(); ++i)
        if (copy.tokenize(lines[i]) != expected[i]) ++mismatches[w];
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, (std::vector<int>{0, 0}));
}

// The outside reference: Debian's Python SentencePiece on the very bytes attnlab stores.
TEST(TokenizerTest, PiecesAndDecodingMatchPythonSentencePiece) {
  ATTNLAB_SKIP_WITHOUT_SENTENCEPIECE();
  if (!test::python_has("sentencepiece"))
    GTEST_SKIP() << "python3-sentencepiece missing (scripts/setup.sh installs it)";
  for (const auto type : {SpmModelType::kUnigram, SpmModelType::kBpe}) {
    SCOPED_TRACE(name_of(type));
    std::vector<std::string> train = corpus(300);
    train.push_back("naïve café, über straße! 3.14 — «quoted»");
    const auto t = Tokenizer::train_sentencepiece(train, spm_options(70, type));
    const std::vector<std::string> texts = {"the elephant eats 3", "naïve café über alles",
                                            "elephants!", "the  Ω dog", "greenbluecat"};
    test::ScratchDir dir;
    const std::vector<char> bytes(t.sentencepiece_model().begin(), t.sentencepiece_model().end());
    test::write_bytes(dir.file("m.model"), bytes, bytes.size());
    std::string text_lines;
    for (const auto& s : texts) text_lines += s + "\n";
    test::write_text(dir.file("texts.txt"), text_lines);
    const auto r =
        test::run_python(dir,
                         "import sentencepiece as spm\n"
                         "sp = spm.SentencePieceProcessor(model_file='" +
                             dir.file("m.model") +
                             "')\n"
                             "for line in open('" +
                             dir.file("texts.txt") +
                             "', encoding='utf-8'):\n"
                             "    pieces = sp.encode(line.rstrip('\\n'), out_type=str)\n"
                             "    print('\\t'.join(pieces) + '\\x1f' + sp.decode(pieces))\n");
    ASSERT_EQ(r.rc, 0) << r.out;
    std::istringstream lines(r.out);
    for (const auto& s : texts) {
      std::string line;
      ASSERT_TRUE(std::getline(lines, line)) << r.out;
      const auto split = line.find('\x1f');
      ASSERT_NE(split, std::string::npos) << line;
      std::string joined;
      const auto ours = t.tokenize(s);
      for (size_t i = 0; i < ours.size(); ++i) joined += (i ? "\t" : "") + ours[i];
      EXPECT_EQ(joined, line.substr(0, split)) << s;
      EXPECT_EQ(t.detokenize(ours), line.substr(split + 1)) << s;
    }
  }
}

}  // namespace
}  // namespace attnlab
