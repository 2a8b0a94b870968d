#include "train/translation_metrics.h"

#include <cmath>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/common.h"

namespace attnlab {
namespace {

using Tokens = std::vector<std::string>;

TEST(Tokenize13a, SplitsAsSacreBleusRulesSay) {
  // Hand-applied mteval-v13a rules (sacreBLEU's tokenizer_13a).
  EXPECT_EQ(tokenize_13a("Hello, world!"), (Tokens{"Hello", ",", "world", "!"}));
  EXPECT_EQ(tokenize_13a("pi is 3.14, not 1,000."), (Tokens{"pi", "is", "3.14", ",", "not", "1,000", "."}));
  EXPECT_EQ(tokenize_13a("pages 10-20 of a well-known (old) book"),
            (Tokens{"pages", "10", "-", "20", "of", "a", "well-known", "(", "old", ")", "book"}));
  EXPECT_EQ(tokenize_13a("it's \"quoted\" &amp; <b>"),
            (Tokens{"it's", "\"", "quoted", "\"", "&", "<", "b", ">"}));
  EXPECT_EQ(tokenize_13a("  spaced\tout  "), (Tokens{"spaced", "out"}));
  EXPECT_EQ(tokenize_13a("Größe, café."), (Tokens{"Größe", ",", "café", "."}));
  EXPECT_TRUE(tokenize_13a("").empty());
}

TEST(Utf8CodePoints, CountsCharactersNotBytes) {
  EXPECT_EQ(utf8_code_points("café").size(), 4u);
  EXPECT_EQ(utf8_code_points("日本").size(), 2u);
  EXPECT_EQ(utf8_code_points("日本")[0], U'日');
  EXPECT_EQ(utf8_code_points("a\xff" "b").size(), 3u);  // an invalid byte is one code point
  EXPECT_EQ(utf8_code_points("\xe6\x97").size(), 2u);   // a cut sequence: its bytes
}

TEST(TranslationMetrics, HandComputedBleu) {
  TranslationMetrics same;
  same.add("the cat sat on the mat", "the cat sat on the mat");
  EXPECT_DOUBLE_EQ(same.bleu(), 100.0);
  EXPECT_DOUBLE_EQ(same.exact_match(), 1.0);
  EXPECT_NEAR(same.chrf(), 100.0, 1e-9);

  // Every n-gram matches, but the hypothesis is half as long: BLEU = exp(1 - 8/4).
  TranslationMetrics short_hyp;
  short_hyp.add("a b c d", "a b c d e f g h");
  EXPECT_NEAR(short_hyp.brevity_penalty(), std::exp(-1.0), 1e-12);
  EXPECT_NEAR(short_hyp.bleu(), 100.0 * std::exp(-1.0), 1e-9);
  EXPECT_DOUBLE_EQ(short_hyp.exact_match(), 0.0);

  // No 4-gram in common: 0 without smoothing.
  TranslationMetrics no_four;
  no_four.add("a b c x d", "a b c d e");
  EXPECT_EQ(no_four.matches[3], 0);
  EXPECT_DOUBLE_EQ(no_four.bleu(), 0.0);

  // Clipping: "the the the the" against "the cat": unigram precision 1/4.
  TranslationMetrics clipped;
  clipped.add("the the the the", "the cat");
  EXPECT_EQ(clipped.matches[0], 1);
  EXPECT_EQ(clipped.totals[0], 4);

  TranslationMetrics empty;
  EXPECT_DOUBLE_EQ(empty.bleu(), 0.0);
  EXPECT_DOUBLE_EQ(empty.chrf(), 0.0);
}

// A random corpus in which hypotheses are references with words dropped, replaced or moved.
struct Corpus {
  std::vector<std::string> hypotheses, references;
};
Corpus random_corpus(uint64_t seed, int sentences) {
  const Tokens vocab = {"the", "a", "cat", "dog", "sat", "ran", "on", "mat", "house", "big",
                        "small", "café", "über", "red", "went", "home", "to", "and"};
  std::mt19937_64 rng(seed);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  Corpus c;
  for (int s = 0; s < sentences; ++s) {
    Tokens ref;
    const size_t len = 5 + pick(10);
    for (size_t i = 0; i < len; ++i) ref.push_back(vocab[pick(vocab.size())]);
    Tokens hyp = ref;
    const size_t edits = pick(4);
    for (size_t e = 0; e < edits; ++e) {
      const size_t at = pick(hyp.size());
      switch (pick(3)) {
        case 0: if (hyp.size() > 4) hyp.erase(hyp.begin() + static_cast<long>(at)); break;
        case 1: hyp[at] = vocab[pick(vocab.size())]; break;
        default: std::swap(hyp[at], hyp[pick(hyp.size())]); break;
      }
    }
    if (pick(5) == 0) hyp.push_back(vocab[pick(vocab.size())]);
    auto join = [](const Tokens& t) {
      std::string out;
      for (const auto& w : t) out += (out.empty() ? "" : " ") + w;
      return out;
    };
    c.hypotheses.push_back(join(hyp));
    c.references.push_back(join(ref));
  }
  return c;
}

TEST(TranslationMetrics, BleuAndChrfEqualNltks) {
  if (!test::python_has("nltk")) GTEST_SKIP() << "python3-nltk is not installed (scripts/setup.sh)";
  test::ScratchDir dir;
  for (const uint64_t seed : {1u, 2u, 3u}) {
    const auto corpus = random_corpus(seed, 150);
    TranslationMetrics ours;
    std::ostringstream tsv;
    for (size_t i = 0; i < corpus.hypotheses.size(); ++i) {
      ours.add(corpus.hypotheses[i], corpus.references[i]);
      tsv << corpus.hypotheses[i] << '\t' << corpus.references[i] << '\n';
    }
    test::write_text(dir.file("pairs.tsv"), tsv.str());
    // Plain words without punctuation: 13a tokens are the whitespace split NLTK is given.
    const auto r = test::run_python(dir, R"(
import warnings
from nltk.translate.bleu_score import corpus_bleu
from nltk.translate.chrf_score import corpus_chrf
pairs = [l.rstrip("\n").split("\t") for l in open(")" + dir.file("pairs.tsv") + R"(", encoding="utf-8")]
hyps = [h for h, _ in pairs]
refs = [r for _, r in pairs]
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    bleu = corpus_bleu([[r.split()] for r in refs], [h.split() for h in hyps])
chrf = corpus_chrf(refs, hyps, min_len=1, max_len=6, beta=2.0, ignore_whitespace=True)
print("%.12f %.12f" % (100 * bleu, 100 * chrf))
)");
    ASSERT_EQ(r.rc, 0) << r.out;
    double bleu = 0, chrf = 0;
    std::istringstream(r.out) >> bleu >> chrf;
    EXPECT_GT(ours.bleu(), 5.0) << "the fixture should score in the middle of the range";
    EXPECT_LT(ours.bleu(), 95.0);
    EXPECT_NEAR(ours.bleu(), bleu, 1e-6) << "seed " << seed;
    EXPECT_NEAR(ours.chrf(), chrf, 1e-6) << "seed " << seed;
  }
}

}  // namespace
}  // namespace attnlab
