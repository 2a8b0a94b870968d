#include "tasks/translation_metrics.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>

namespace attnlab {
namespace {

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}

// Words of UTF-8 `text` between runs of Unicode whitespace.
std::vector<std::string> split_whitespace(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  for (size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    const size_t length = byte < 0x80           ? 1
                          : (byte >> 5) == 0x6  ? 2
                          : (byte >> 4) == 0xe  ? 3
                          : (byte >> 3) == 0x1e ? 4
                                                : 1;
    const std::string character = text.substr(i, length);
    const auto code = utf8_code_points(character);
    if (code.size() == 1 && is_unicode_space(code[0])) {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
    } else {
      word += character;
    }
    i += character.size();
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

template <typename Sequence>
std::map<Sequence, int64_t> ngram_counts(const Sequence& items, size_t n) {
  std::map<Sequence, int64_t> counts;
  for (size_t i = 0; i + n <= items.size(); ++i)
    ++counts[Sequence(items.begin() + i, items.begin() + i + n)];
  return counts;
}

template <typename Sequence>
int64_t clipped_overlap(const std::map<Sequence, int64_t>& hyp,
                        const std::map<Sequence, int64_t>& ref) {
  int64_t overlap = 0;
  for (const auto& [gram, count] : hyp) {
    const auto it = ref.find(gram);
    if (it != ref.end()) overlap += std::min(count, it->second);
  }
  return overlap;
}

// NLTK's chrf_precision_recall_fscore_support: F-beta of one n-gram order, 1e-16 where
// precision or recall is undefined or both are zero.
double chrf_order_fscore(int64_t matches, int64_t hyp_total, int64_t ref_total) {
  constexpr double kEpsilon = 1e-16;
  if (hyp_total == 0 || ref_total == 0) return kEpsilon;
  const double precision = static_cast<double>(matches) / static_cast<double>(hyp_total);
  const double recall = static_cast<double>(matches) / static_cast<double>(ref_total);
  const double factor = TranslationMetrics::kChrfBeta * TranslationMetrics::kChrfBeta;
  const double denominator = factor * precision + recall;
  if (denominator == 0.0) return kEpsilon;
  return (1 + factor) * precision * recall / denominator;
}

std::u32string without_whitespace(const std::string& text) {
  std::u32string out;
  for (const char32_t c : utf8_code_points(text))
    if (!is_unicode_space(c)) out.push_back(c);
  return out;
}

}  // namespace

bool is_unicode_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
         c == 0x205f || c == 0x3000;
}

std::vector<std::string> tokenize_13a(const std::string& text) {
  std::string line = text;
  replace_all(line, "<skipped>", "");
  replace_all(line, "-\n", "");
  replace_all(line, "\n", " ");
  if (line.find('&') != std::string::npos) {
    replace_all(line, "&quot;", "\"");
    replace_all(line, "&amp;", "&");
    replace_all(line, "&lt;", "<");
    replace_all(line, "&gt;", ">");
  }
  line = " " + line + " ";
  // sacreBLEU's four rules, applied in order (bytes: each rule only tests ASCII characters).
  static const std::regex symbols(R"(([\{-\~\[-\` -\&\(-\+\:-\@\/]))");
  static const std::regex period_comma_after(R"(([^0-9])([\.,]))");
  static const std::regex period_comma_before(R"(([\.,])([^0-9]))");
  static const std::regex dash_after_digit(R"(([0-9])(-))");
  line = std::regex_replace(line, symbols, " $1 ");
  line = std::regex_replace(line, period_comma_after, "$1 $2 ");
  line = std::regex_replace(line, period_comma_before, " $1 $2");
  line = std::regex_replace(line, dash_after_digit, "$1 $2 ");
  return split_whitespace(line);
}

std::u32string utf8_code_points(const std::string& text) {
  std::u32string out;
  for (size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    const int extra = byte < 0x80           ? 0
                      : (byte >> 5) == 0x6  ? 1
                      : (byte >> 4) == 0xe  ? 2
                      : (byte >> 3) == 0x1e ? 3
                                            : -1;
    bool valid = extra >= 0 && i + static_cast<size_t>(extra) < text.size();
    char32_t code = extra <= 0 ? byte : byte & (0x3f >> extra);
    for (int k = 1; valid && k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + static_cast<size_t>(k)]);
      valid = (next & 0xc0) == 0x80;
      code = (code << 6) | (next & 0x3f);
    }
    if (!valid) {
      out.push_back(byte);  // an invalid byte stands for itself
      ++i;
      continue;
    }
    out.push_back(code);
    i += static_cast<size_t>(extra) + 1;
  }
  return out;
}

void TranslationMetrics::add(const std::string& hypothesis, const std::string& reference) {
  ++sentences;
  if (hypothesis == reference) ++exact;
  const auto hyp = tokenize_13a(hypothesis);
  const auto ref = tokenize_13a(reference);
  hypothesis_tokens += static_cast<int64_t>(hyp.size());
  reference_tokens += static_cast<int64_t>(ref.size());
  for (int n = 1; n <= kBleuOrder; ++n) {
    const auto order = static_cast<size_t>(n);
    const auto hyp_counts = ngram_counts(hyp, order);
    matches[order - 1] += clipped_overlap(hyp_counts, ngram_counts(ref, order));
    totals[order - 1] += hyp.size() >= order ? static_cast<int64_t>(hyp.size() - order + 1) : 0;
  }
  const auto hyp_chars = without_whitespace(hypothesis);
  const auto ref_chars = without_whitespace(reference);
  double order_sum = 0.0;
  for (int n = 1; n <= kChrfOrder; ++n) {
    const auto order = static_cast<size_t>(n);
    const int64_t hyp_total =
        hyp_chars.size() >= order ? static_cast<int64_t>(hyp_chars.size() - order + 1) : 0;
    const int64_t ref_total =
        ref_chars.size() >= order ? static_cast<int64_t>(ref_chars.size() - order + 1) : 0;
    const int64_t matched =
        clipped_overlap(ngram_counts(hyp_chars, order), ngram_counts(ref_chars, order));
    order_sum += chrf_order_fscore(matched, hyp_total, ref_total);
    // sacreBLEU counts no hypothesis n-grams of an order the reference does not have.
    chrf_hypothesis[order - 1] += ref_total > 0 ? hyp_total : 0;
    chrf_reference[order - 1] += ref_total;
    chrf_matches[order - 1] += matched;
  }
  chrf_sum += order_sum / kChrfOrder;
}

double TranslationMetrics::exact_match() const {
  return sentences ? static_cast<double>(exact) / static_cast<double>(sentences) : 0.0;
}

double TranslationMetrics::brevity_penalty() const {
  if (hypothesis_tokens == 0) return 0.0;
  if (hypothesis_tokens > reference_tokens) return 1.0;
  return std::exp(1.0 -
                  static_cast<double>(reference_tokens) / static_cast<double>(hypothesis_tokens));
}

double TranslationMetrics::bleu() const {
  double log_sum = 0.0;
  for (int n = 0; n < kBleuOrder; ++n) {
    if (matches[static_cast<size_t>(n)] == 0 || totals[static_cast<size_t>(n)] == 0) return 0.0;
    log_sum += std::log(static_cast<double>(matches[static_cast<size_t>(n)]) /
                        static_cast<double>(totals[static_cast<size_t>(n)]));
  }
  return 100.0 * brevity_penalty() * std::exp(log_sum / kBleuOrder);
}

double TranslationMetrics::chrf() const {
  double precision_sum = 0.0, recall_sum = 0.0;
  int orders = 0;  // sacreBLEU's effective order: those both sides have n-grams of
  for (size_t k = 0; k < static_cast<size_t>(kChrfOrder); ++k) {
    if (chrf_hypothesis[k] == 0 || chrf_reference[k] == 0) continue;
    precision_sum += static_cast<double>(chrf_matches[k]) / static_cast<double>(chrf_hypothesis[k]);
    recall_sum += static_cast<double>(chrf_matches[k]) / static_cast<double>(chrf_reference[k]);
    ++orders;
  }
  if (orders == 0) return 0.0;
  const double precision = precision_sum / orders, recall = recall_sum / orders;
  if (precision + recall == 0.0) return 0.0;
  const double factor = kChrfBeta * kChrfBeta;
  return 100.0 * (1 + factor) * precision * recall / (factor * precision + recall);
}

double TranslationMetrics::chrf_sentence_mean() const {
  return sentences ? 100.0 * chrf_sum / static_cast<double>(sentences) : 0.0;
}

std::string TranslationMetrics::signature() {
  return "BLEU: nrefs:1|case:mixed|tok:13a|smooth:none|order:4 · chrF: nrefs:1|case:mixed|"
         "eff:yes|nc:6|nw:0|space:no|beta:2|corpus statistics (sacreBLEU 2)";
}

}  // namespace attnlab
