#include "tasks/translation_metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "support/common.h"

namespace attnlab {
namespace {

using Tokens = std::vector<std::string>;

TEST(Tokenize13a, SplitsAsSacreBleusRulesSay) {
  // Hand-applied mteval-v13a rules (sacreBLEU's tokenizer_13a).
  EXPECT_EQ(tokenize_13a("Hello, world!"), (Tokens{"Hello", ",", "world", "!"}));
  EXPECT_EQ(tokenize_13a("pi is 3.14, not 1,000."),
            (Tokens{"pi", "is", "3.14", ",", "not", "1,000", "."}));
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
  EXPECT_EQ(utf8_code_points("a\xff"
                             "b")
                .size(),
            3u);                                       // an invalid byte is one code point
  EXPECT_EQ(utf8_code_points("\xe6\x97").size(), 2u);  // a cut sequence: its bytes
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
  const Tokens vocab = {"the", "a",     "cat",  "dog",  "sat", "ran",  "on",   "mat", "house",
                        "big", "small", "café", "über", "red", "went", "home", "to",  "and"};
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
        case 0:
          if (hyp.size() > 4) hyp.erase(hyp.begin() + static_cast<long>(at));
          break;
        case 1:
          hyp[at] = vocab[pick(vocab.size())];
          break;
        default:
          std::swap(hyp[at], hyp[pick(hyp.size())]);
          break;
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

// Our metrics of `corpus`, and the corpus written to `tsv_path` as hypothesis<TAB>reference lines
// for the reference in Python.
TranslationMetrics score_and_write(const Corpus& corpus, const std::string& tsv_path) {
  TranslationMetrics ours;
  std::ostringstream tsv;
  for (size_t i = 0; i < corpus.hypotheses.size(); ++i) {
    ours.add(corpus.hypotheses[i], corpus.references[i]);
    tsv << corpus.hypotheses[i] << '\t' << corpus.references[i] << '\n';
  }
  test::write_text(tsv_path, tsv.str());
  return ours;
}

TEST(TranslationMetrics, BleuAndChrfEqualNltks) {
  if (!test::python_has("nltk")) GTEST_SKIP() << "python3-nltk is not installed (scripts/setup.sh)";
  test::ScratchDir dir;
  for (const uint64_t seed : {1u, 2u, 3u}) {
    const auto corpus = random_corpus(seed, 150);
    const TranslationMetrics ours = score_and_write(corpus, dir.file("pairs.tsv"));
    // Plain words without punctuation: 13a tokens are the whitespace split NLTK is given.
    const auto r = test::run_python(dir, R"(
import warnings
from nltk.translate.bleu_score import corpus_bleu
from nltk.translate.chrf_score import corpus_chrf
pairs = [l.rstrip("\n").split("\t") for l in open(")" +
                                             dir.file("pairs.tsv") + R"(", encoding="utf-8")]
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
    EXPECT_NEAR(ours.chrf_sentence_mean(), chrf, 1e-6) << "seed " << seed;
  }
}

// A corpus small enough to score by hand: ("ab", "abc") and ("x", "y").
//   order 1: hypothesis 2 + 1, reference 3 + 1, matches 2 + 0; order 2: 1 + 0, 2 + 0, 1 + 0;
//   order 3: the reference "abc" has one 3-gram, the hypothesis none. Effective orders 1 and 2:
//   P = (2/3 + 1/1) / 2 = 5/6, R = (2/4 + 1/2) / 2 = 1/2, F2 = 5PR / (4P + R) = 25/46.
// The sentence mean (NLTK's corpus_chrf) is far lower: sentence 1 has F2 10/14 (order 1) and
// 5/9 (order 2) and ~0 for orders 3-6, sentence 2 ~0: ((10/14 + 5/9) / 6) / 2.
TEST(TranslationMetrics, CorpusChrfByHand) {
  TranslationMetrics m;
  m.add("ab", "abc");
  m.add("x", "y");
  EXPECT_EQ(m.chrf_hypothesis[0], 3);
  EXPECT_EQ(m.chrf_reference[0], 4);
  EXPECT_EQ(m.chrf_matches[0], 2);
  EXPECT_EQ(m.chrf_hypothesis[2], 0);
  EXPECT_EQ(m.chrf_reference[2], 1);
  EXPECT_NEAR(m.chrf(), 100.0 * 25.0 / 46.0, 1e-9);
  EXPECT_NEAR(m.chrf_sentence_mean(), 100.0 * (10.0 / 14.0 + 5.0 / 9.0) / 6.0 / 2.0, 1e-9);

  // A hypothesis n-gram of an order its reference lacks counts nowhere (sacreBLEU's rule):
  // "abcd" against "ab" scores orders 1 and 2 only: P = (2/4 + 1/3) / 2, R = 1.
  TranslationMetrics longer;
  longer.add("abcd", "ab");
  EXPECT_EQ(longer.chrf_hypothesis[2], 0);
  const double p = (2.0 / 4.0 + 1.0 / 3.0) / 2.0;
  EXPECT_NEAR(longer.chrf(), 100.0 * 5.0 * p / (4.0 * p + 1.0), 1e-9);

  TranslationMetrics nothing;
  nothing.add("", "abc");
  EXPECT_DOUBLE_EQ(nothing.chrf(), 0.0);
}

// Unicode whitespace is whitespace, as NLTK's and sacreBLEU's \s: a pair that differs only by
// a no-break space, an ideographic space or a line separator scores 100.
TEST(TranslationMetrics, UnicodeWhitespaceIsStrippedAndSplitOn) {
  for (const std::string space : {"\u00a0", "\u3000", "\u2028", "\u2009", "\u0085", "\x1c"}) {
    TranslationMetrics m;
    m.add("a" + space + "cat sat on the mat", "a cat" + space + "sat on the mat");
    EXPECT_NEAR(m.chrf(), 100.0, 1e-9)
        << "U+" << std::hex << static_cast<uint32_t>(utf8_code_points(space)[0]);
    EXPECT_NEAR(m.chrf_sentence_mean(), 100.0, 1e-9);
    EXPECT_NEAR(m.bleu(), 100.0, 1e-9);
    EXPECT_EQ(tokenize_13a("a" + space + "cat"), (Tokens{"a", "cat"}));
  }
  EXPECT_TRUE(is_unicode_space(U' '));
  EXPECT_FALSE(is_unicode_space(U'\u200b'));  // zero-width space: not whitespace in Python
  EXPECT_FALSE(is_unicode_space(U'x'));
}

// Corpus chrF against NLTK's own per-sentence statistics (chrf_precision_recall_fscore_support's
// matches, its n-gram counts), summed over the corpus by this test and combined as sacreBLEU 2
// does; on text with punctuation, capitals and no-break spaces.
TEST(TranslationMetrics, CorpusChrfEqualsNltksStatisticsSummed) {
  if (!test::python_has("nltk")) GTEST_SKIP() << "python3-nltk is not installed (scripts/setup.sh)";
  test::ScratchDir dir;
  for (const uint64_t seed : {4u, 5u}) {
    auto corpus = random_corpus(seed, 120);
    for (size_t i = 0; i < corpus.hypotheses.size(); i += 7) corpus.hypotheses[i] += ", indeed!";
    for (size_t i = 0; i < corpus.references.size(); i += 5)
      corpus.references[i] = "Well,\u00a0" + corpus.references[i];
    corpus.hypotheses[3] = "";  // an empty output
    const TranslationMetrics ours = score_and_write(corpus, dir.file("pairs.tsv"));
    const auto r = test::run_python(dir, R"(
import re
from nltk.util import ngrams
from nltk.translate.chrf_score import chrf_precision_recall_fscore_support
pairs = [l.rstrip("\n").split("\t") for l in open(")" +
                                             dir.file("pairs.tsv") + R"(", encoding="utf-8")]
hyp_sum, ref_sum, match_sum = [0] * 6, [0] * 6, [0] * 6
for hyp, ref in pairs:
    hyp, ref = re.sub(r"\s+", "", hyp), re.sub(r"\s+", "", ref)
    for n in range(1, 7):
        tp = chrf_precision_recall_fscore_support(ref, hyp, n)[3]
        h, r = len(list(ngrams(hyp, n))), len(list(ngrams(ref, n)))
        hyp_sum[n - 1] += h if r > 0 else 0
        ref_sum[n - 1] += r
        match_sum[n - 1] += tp
orders = [k for k in range(6) if hyp_sum[k] > 0 and ref_sum[k] > 0]
p = sum(match_sum[k] / hyp_sum[k] for k in orders) / len(orders)
r = sum(match_sum[k] / ref_sum[k] for k in orders) / len(orders)
print("%.12f" % (100 * 5 * p * r / (4 * p + r)))
)");
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_NEAR(ours.chrf(), std::stod(r.out), 1e-8) << "seed " << seed;
    EXPECT_GT(std::abs(ours.chrf() - ours.chrf_sentence_mean()), 0.1)
        << "the corpus and the sentence mean should differ on this fixture";
  }
}

// tokenize_13a against an outside implementation of the same rules: NLTK's NISTTokenizer
// (mteval's tokenization, western languages) on punctuated text; entities and newlines,
// where the two differ on purpose (sacreBLEU unescapes four entities, NLTK more), left out.
TEST(Tokenize13a, EqualsNltksNistTokenizerOnPunctuatedText) {
  if (!test::python_has("nltk")) GTEST_SKIP() << "python3-nltk is not installed (scripts/setup.sh)";
  const Tokens words = {"Hello,", "world!", "3.14",       "1,000.",   "(old)",   "well-known",
                        "10-20",  "it's",   "\"quoted\"", "$5",       "50%",     "e.g.",
                        "U.S.",   "café.",  "[x]",        "{y}",      "a/b",     "x@y",
                        "~z",     "`q`",    "#tag",       "-5",       "5-",      ".5",
                        "end.",   "Größe;", "über:",      "x\u00a0y", "a*b+c=d", "<b>",
                        "2.",     ",3",     "Z|z",        "^_^"};
  std::mt19937_64 rng(9);
  std::vector<std::string> lines;
  for (int i = 0; i < 200; ++i) {
    std::string line;
    const size_t n = 1 + rng() % 9;
    for (size_t k = 0; k < n; ++k) line += (k ? " " : "") + words[rng() % words.size()];
    lines.push_back(line);
  }
  test::ScratchDir dir;
  std::ostringstream text;
  for (const auto& line : lines) text << line << '\n';
  test::write_text(dir.file("lines.txt"), text.str());
  // NISTTokenizer's class body reads the perluniprops corpus for its international rules
  // (nltk_data, not in Debian); the western rules used here need none of it.
  const auto r = test::run_python(dir, R"(
import nltk.corpus
class NoUnicodeProperties:
    def chars(self, category=None):
        return ["\U0010fffd"]
nltk.corpus.perluniprops = NoUnicodeProperties()
from nltk.tokenize.nist import NISTTokenizer
nist = NISTTokenizer()
for line in open(")" + dir.file("lines.txt") +
                                           R"(", encoding="utf-8"):
    print("\t".join(nist.tokenize(line.rstrip("\n"))))
)");
  ASSERT_EQ(r.rc, 0) << r.out;
  std::istringstream expected(r.out);
  for (const auto& line : lines) {
    std::string reference;
    ASSERT_TRUE(std::getline(expected, reference)) << r.out;
    std::string ours;
    for (const auto& token : tokenize_13a(line)) ours += (ours.empty() ? "" : "\t") + token;
    EXPECT_EQ(ours, reference) << line;
  }
}

}  // namespace
}  // namespace attnlab
