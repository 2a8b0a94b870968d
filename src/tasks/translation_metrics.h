#pragma once
// Translation metrics on detokenized text, as counters fed with (hypothesis, reference) pairs:
// exact match, corpus BLEU-4 and chrF. docs/training.md ("Translation metrics") says what
// each computes and where it differs from sacreBLEU.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace attnlab {

// sacreBLEU's default "13a" tokenization (mteval-v13a): punctuation and symbols split off,
// periods and commas split off unless between digits, a dash after a digit split off; then
// split at Unicode whitespace (is_unicode_space), as Python's str.split() does.
std::vector<std::string> tokenize_13a(const std::string& text);

// Python's str.isspace() (and so re's \s, which NLTK's and sacreBLEU's chrF strip): the
// 29 code points U+0009-000D, U+001C-0020, U+0085, U+00A0, U+1680, U+2000-200A, U+2028,
// U+2029, U+202F, U+205F, U+3000.
bool is_unicode_space(char32_t c);

// The Unicode code points of UTF-8 `text` (an invalid byte counts as one code point).
std::u32string utf8_code_points(const std::string& text);

struct TranslationMetrics {
  static constexpr int kBleuOrder = 4;
  static constexpr int kChrfOrder = 6;
  static constexpr double kChrfBeta = 2.0;

  // One sentence pair, both detokenized text.
  void add(const std::string& hypothesis, const std::string& reference);

  int64_t sentences = 0;
  int64_t exact = 0;  // hypothesis == reference, byte for byte
  // BLEU statistics over the corpus, on tokenize_13a tokens.
  std::array<int64_t, kBleuOrder> matches{};  // clipped n-gram matches, n = 1..4
  std::array<int64_t, kBleuOrder> totals{};   // hypothesis n-grams
  int64_t hypothesis_tokens = 0;
  int64_t reference_tokens = 0;
  // chrF statistics over the corpus, per character n-gram order n = 1..6, whitespace removed:
  // hypothesis n-grams (0 for a sentence whose reference has none of that order, as sacreBLEU
  // counts), reference n-grams, and clipped matches.
  std::array<int64_t, kChrfOrder> chrf_hypothesis{};
  std::array<int64_t, kChrfOrder> chrf_reference{};
  std::array<int64_t, kChrfOrder> chrf_matches{};
  double chrf_sum = 0.0;  // sum over sentences of the sentence chrF (0..1)

  double exact_match() const;  // 0..1
  double bleu() const;         // 0..100; 0 when an order has no match (no smoothing)
  double brevity_penalty() const;
  // Corpus chrF (0..100), as sacreBLEU 2 computes it and papers report it: precision and
  // recall of each order from the corpus statistics, averaged over the orders both sides have,
  // then F-beta (beta 2).
  double chrf() const;
  // The mean of the sentences' chrF (0..100), as NLTK's corpus_chrf computes it.
  double chrf_sentence_mean() const;
  // What was computed, in the manner of sacreBLEU's signature line.
  static std::string signature();
};

}  // namespace attnlab
