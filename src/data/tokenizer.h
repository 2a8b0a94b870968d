#pragma once
// How a run turns text into tokens and tokens back into text: one object for every
// data.tokenization, so the dataset, the evaluator, predict and the attention tools split text
// the same way.
//
//   char, word     the rules of tokenize() in data/vocab.h; no state.
//   sentencepiece  a SentencePiece model (Kudo & Richardson, 2018; Debian's libsentencepiece):
//                  unigram or BPE pieces such as "▁the", "s". Text is normalised first (NFKC,
//                  whitespace runs collapsed, as SentencePiece's default "nmt_nfkc" rule does);
//                  detokenize() decodes pieces back to text, so "▁the", "▁cat", "s" -> "the cats".
//                  One model serves source and target (trained on both sides of a pair), and
//                  its serialized bytes travel in the checkpoint (docs/data.md, "SentencePiece").
//
// Copies share the loaded model; every method is const and safe to call from several threads.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/enums.h"

namespace attnlab {

struct SentencePieceOptions {
  int64_t vocab_size = 1000;                         // pieces, including <unk>
  SpmModelType model_type = SpmModelType::kUnigram;  // unigram | bpe
  double character_coverage = 1.0;  // share of characters the pieces must cover; the rarest
                                    // rest become <unk> (SentencePiece's --character_coverage)
  int64_t threads = 1;              // trainer threads
};

class Tokenizer {
 public:
  // char or word (implicit, so a Tokenization can stand where a Tokenizer is expected).
  // TORCH_CHECKs that `kind` is not kSentencepiece, which needs a model.
  Tokenizer(Tokenization kind = Tokenization::kChar);  // NOLINT(google-explicit-constructor)

  // Trains a SentencePiece model on `texts` (one sentence each). Throws std::invalid_argument
  // with SentencePiece's reason, e.g. a vocab_size larger than the texts allow ("Vocabulary
  // size too high (8000). Please set it to a value <= 1873.").
  static Tokenizer train_sentencepiece(const std::vector<std::string>& texts,
                                       const SentencePieceOptions& options);

  // Loads a serialized SentencePiece model (a .model file's bytes, or the bytes a checkpoint
  // holds). Throws std::invalid_argument when they are not one.
  static Tokenizer load_sentencepiece(std::string serialized_model);

  Tokenization kind() const { return kind_; }

  // Valid UTF-8 text -> tokens. Throws std::invalid_argument on invalid UTF-8.
  std::vector<std::string> tokenize(const std::string& text) const;

  // Tokens -> text: char concatenates, word joins with single spaces, sentencepiece decodes
  // (pieces the model does not know decode as " ⁇ ").
  std::string detokenize(const std::vector<std::string>& tokens) const;

  // The serialized model (the bytes of a .model file); empty unless sentencepiece.
  const std::string& sentencepiece_model() const;

  // For logs and metric signatures: "char", "word", "sentencepiece (1000 pieces)".
  std::string describe() const;

 private:
  struct SentencePiece;
  Tokenizer(Tokenization kind, std::shared_ptr<const SentencePiece> model);

  Tokenization kind_;
  std::shared_ptr<const SentencePiece> spm_;  // sentencepiece only
};

}  // namespace attnlab
