#include "data/vocab.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <utility>

#include "data/tsv.h"

namespace attnlab {
namespace {

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// Length in bytes of the UTF-8 sequence starting with lead byte c.
size_t utf8_length(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  return 4;
}

}  // namespace

std::vector<std::string> tokenize(const std::string& text, Tokenization tokenization) {
  const int64_t bad = find_invalid_utf8(text);
  if (bad >= 0)
    throw std::invalid_argument("tokenize: invalid UTF-8 at byte " + std::to_string(bad + 1));
  if (tokenization == Tokenization::kSentencepiece)
    throw std::invalid_argument("tokenize: sentencepiece needs its model (data/tokenizer.h)");
  std::vector<std::string> tokens;
  if (tokenization == Tokenization::kChar) {
    for (size_t i = 0; i < text.size();) {
      const size_t len = utf8_length(static_cast<unsigned char>(text[i]));
      tokens.push_back(text.substr(i, len));
      i += len;
    }
    return tokens;
  }
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_ascii_space(text[i])) ++i;
    const size_t start = i;
    while (i < text.size() && !is_ascii_space(text[i])) ++i;
    if (i > start) tokens.push_back(text.substr(start, i - start));
  }
  return tokens;
}

std::string detokenize(const std::vector<std::string>& tokens, Tokenization tokenization) {
  std::string text;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokenization == Tokenization::kWord && i > 0) text += ' ';
    text += tokens[i];
  }
  return text;
}

const std::vector<std::string>& Vocab::specials() {
  static const std::vector<std::string> kSpecials = {"<pad>", "<unk>", "<cls>"};
  return kSpecials;
}

Vocab::Vocab() : Vocab(specials()) {}

Vocab::Vocab(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {
  for (size_t i = 0; i < tokens_.size(); ++i) ids_.emplace(tokens_[i], static_cast<int64_t>(i));
}

Vocab Vocab::build(const std::vector<std::vector<std::string>>& sequences) {
  std::map<std::string, int64_t> counts;
  for (const auto& sequence : sequences) {
    for (const auto& token : sequence) ++counts[token];
  }
  for (const auto& special : specials()) counts.erase(special);
  std::vector<std::pair<std::string, int64_t>> sorted(counts.begin(), counts.end());
  // counts is already in byte-wise order; a stable sort by count keeps that for ties.
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<std::string> tokens = specials();
  for (auto& entry : sorted) tokens.push_back(std::move(entry.first));
  return Vocab(std::move(tokens));
}

Vocab Vocab::from_tokens(std::vector<std::string> tokens) {
  const auto& sp = specials();
  if (tokens.size() < sp.size() || !std::equal(sp.begin(), sp.end(), tokens.begin())) {
    throw std::invalid_argument("vocabulary must start with <pad>, <unk>, <cls>");
  }
  std::unordered_map<std::string, int64_t> seen;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].empty())
      throw std::invalid_argument("vocabulary token " + std::to_string(i) + " is empty");
    if (!seen.emplace(tokens[i], static_cast<int64_t>(i)).second) {
      throw std::invalid_argument("vocabulary token '" + tokens[i] + "' appears twice (ids " +
                                  std::to_string(seen[tokens[i]]) + " and " + std::to_string(i) +
                                  ")");
    }
  }
  return Vocab(std::move(tokens));
}

int64_t Vocab::id(const std::string& token) const {
  const auto it = ids_.find(token);
  return it == ids_.end() ? kUnkId : it->second;
}

bool Vocab::contains(const std::string& token) const { return ids_.count(token) > 0; }

const std::string& Vocab::token(int64_t id) const {
  TORCH_CHECK(id >= 0 && id < size(), "token id ", id, " out of range for a vocabulary of ",
              size());
  return tokens_[static_cast<size_t>(id)];
}

std::vector<int64_t> Vocab::encode(const std::vector<std::string>& tokens) const {
  std::vector<int64_t> ids;
  ids.reserve(tokens.size());
  for (const auto& token : tokens) ids.push_back(id(token));
  return ids;
}

std::vector<std::string> Vocab::decode(const std::vector<int64_t>& ids) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const int64_t i : ids) tokens.push_back(token(i));
  return tokens;
}

LabelSet LabelSet::from_labels(std::vector<std::string> labels) {
  for (const auto& label : labels) {
    if (label.empty()) throw std::invalid_argument("empty class label");
  }
  std::sort(labels.begin(), labels.end());
  labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
  LabelSet set;
  set.labels_ = std::move(labels);
  for (size_t i = 0; i < set.labels_.size(); ++i)
    set.ids_.emplace(set.labels_[i], static_cast<int64_t>(i));
  return set;
}

LabelSet LabelSet::from_ordered(std::vector<std::string> labels) {
  LabelSet set;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i].empty()) throw std::invalid_argument("empty class label");
    if (!set.ids_.emplace(labels[i], static_cast<int64_t>(i)).second)
      throw std::invalid_argument("class label '" + labels[i] + "' given twice");
  }
  set.labels_ = std::move(labels);
  return set;
}

int64_t LabelSet::find(const std::string& label) const {
  const auto it = ids_.find(label);
  return it == ids_.end() ? -1 : it->second;
}

int64_t LabelSet::id(const std::string& label) const {
  const int64_t i = find(label);
  TORCH_CHECK(i >= 0, "unknown label '", label, "'; known labels: ", joined());
  return i;
}

const std::string& LabelSet::label(int64_t id) const {
  TORCH_CHECK(id >= 0 && id < size(), "label id ", id, " out of range for ", size(), " labels");
  return labels_[static_cast<size_t>(id)];
}

std::string LabelSet::joined() const {
  std::string text;
  for (size_t i = 0; i < labels_.size(); ++i) {
    if (i > 0) text += ", ";
    text += labels_[i];
  }
  return text;
}

}  // namespace attnlab
