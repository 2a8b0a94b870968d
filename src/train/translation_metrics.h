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
// periods and commas split off unless between digits, a dash after a digit split off.
std::vector<std::string> tokenize_13a(const std::string& text);

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
  double chrf_sum = 0.0;  // sum over sentences of the sentence chrF (0..1)

  double exact_match() const;  // 0..1
  double bleu() const;         // 0..100; 0 when an order has no match (no smoothing)
  double brevity_penalty() const;
  double chrf() const;         // 0..100
  // What was computed, in the manner of sacreBLEU's signature line.
  static std::string signature();
};

}  // namespace attnlab
