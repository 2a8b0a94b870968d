#pragma once
// Tokenization, token vocabularies and label sets.
//
// Tokenization::kChar: every Unicode code point is one token, spaces included, so the
//   tokens concatenate back to the exact text ("a b" -> "a", " ", "b").
// Tokenization::kWord: tokens are the runs of non-whitespace characters; ASCII whitespace
//   (space, TAB, \n, \v, \f, \r) only separates tokens and is never a token itself.

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/enums.h"

namespace attnlab {

// Splits valid UTF-8 text into tokens (see above). Throws std::invalid_argument on
// invalid UTF-8 (read_tsv has already rejected it for data read from files) and for
// kSentencepiece, which needs a model: data/tokenizer.h covers all three.
std::vector<std::string> tokenize(const std::string& text, Tokenization tokenization);

// Inverse of tokenize for display: kChar concatenates, kWord joins with single spaces.
std::string detokenize(const std::vector<std::string>& tokens, Tokenization tokenization);

// Token <-> id map. Ids 0, 1, 2 are always <pad>, <unk>, <cls>; data tokens follow.
class Vocab {
 public:
  static constexpr int64_t kPadId = 0;                // fills sequences up to the batch length
  static constexpr int64_t kUnkId = 1;                // any token not in the vocabulary
  static constexpr int64_t kClsId = 2;                // prepended to classification inputs
  static const std::vector<std::string>& specials();  // {"<pad>", "<unk>", "<cls>"}

  // Only the specials.
  Vocab();

  // Specials, then every distinct token of the sequences by descending count, ties broken by
  // byte-wise string order, so the result does not depend on the order of the data. Tokens
  // spelled like a special are not added again (they map to that special).
  static Vocab build(const std::vector<std::vector<std::string>>& sequences);

  // A vocabulary saved earlier (e.g. in a checkpoint): tokens[i] gets id i. Throws
  // std::invalid_argument unless it starts with the specials and holds no empty or
  // duplicate token.
  static Vocab from_tokens(std::vector<std::string> tokens);

  int64_t id(const std::string& token) const;  // kUnkId for unseen tokens
  bool contains(const std::string& token) const;
  const std::string& token(int64_t id) const;  // TORCH_CHECKs 0 <= id < size()
  std::vector<int64_t> encode(const std::vector<std::string>& tokens) const;
  std::vector<std::string> decode(const std::vector<int64_t>& ids) const;
  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  const std::vector<std::string>& tokens() const { return tokens_; }

 private:
  explicit Vocab(std::vector<std::string> tokens);

  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> ids_;
};

// The classes of a classification task: distinct labels in byte-wise sorted order, ids 0..K-1.
class LabelSet {
 public:
  LabelSet() = default;

  // Sorts and de-duplicates. Throws std::invalid_argument for an empty label.
  static LabelSet from_labels(std::vector<std::string> labels);
  // Keeps the given order (ids 0, 1, ... as listed). Throws std::invalid_argument for an empty
  // or repeated label.
  static LabelSet from_ordered(std::vector<std::string> labels);

  int64_t find(const std::string& label) const;  // -1 if unknown
  int64_t id(const std::string& label) const;    // TORCH_CHECKs that the label is known
  const std::string& label(int64_t id) const;    // TORCH_CHECKs 0 <= id < size()
  int64_t size() const { return static_cast<int64_t>(labels_.size()); }
  const std::vector<std::string>& labels() const { return labels_; }
  std::string joined() const;  // "negative, neutral, positive" for messages

 private:
  std::vector<std::string> labels_;
  std::unordered_map<std::string, int64_t> ids_;
};

}  // namespace attnlab
