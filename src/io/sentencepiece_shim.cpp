// libattnlab_sentencepiece.so: SentencePiece behind a plain function table (io/sentencepiece_abi.h
// says why it is a separate library opened with dlopen). Not part of attnlab_lib; links no
// LibTorch.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <exception>
#include <new>

#include "io/sentencepiece_abi.h"

namespace {

namespace abi = attnlab::sentencepiece_abi;

// Feeds SentencePiece's trainer from memory, so no temporary file is written.
class TextIterator : public sentencepiece::SentenceIterator {
 public:
  explicit TextIterator(const std::vector<std::string>& texts) : texts_(texts) {}
  bool done() const override { return next_ >= texts_.size(); }
  void Next() override { ++next_; }
  const std::string& value() const override { return texts_[next_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<std::string>& texts_;
  size_t next_ = 0;
};

bool report(const sentencepiece::util::Status& status, std::string* error) {
  if (status.ok()) return true;
  *error = status.message();
  return false;
}

const sentencepiece::SentencePieceProcessor& processor_of(const void* p) {
  return *static_cast<const sentencepiece::SentencePieceProcessor*>(p);
}

}  // namespace

extern "C" {

bool attnlab_spm_train(const std::vector<std::string>& texts,
                       const std::unordered_map<std::string, std::string>& args, std::string* model,
                       std::string* error) {
  try {
    TextIterator iterator(texts);
    return report(sentencepiece::SentencePieceTrainer::Train(args, &iterator, model), error);
  } catch (const std::exception& e) {
    *error = e.what();
    return false;
  }
}

void* attnlab_spm_load(const std::string& model, std::string* error) {
  auto* processor = new (std::nothrow) sentencepiece::SentencePieceProcessor();
  if (processor == nullptr) {
    *error = "out of memory";
    return nullptr;
  }
  if (!report(processor->LoadFromSerializedProto(model), error)) {
    delete processor;
    return nullptr;
  }
  return processor;
}

void attnlab_spm_unload(void* processor) {
  delete static_cast<sentencepiece::SentencePieceProcessor*>(processor);
}

bool attnlab_spm_encode(const void* processor, const std::string& text,
                        std::vector<std::string>* pieces, std::string* error) {
  try {
    return report(processor_of(processor).Encode(text, pieces), error);
  } catch (const std::exception& e) {
    *error = e.what();
    return false;
  }
}

bool attnlab_spm_decode(const void* processor, const std::vector<std::string>& pieces,
                        std::string* text, std::string* error) {
  try {
    return report(processor_of(processor).Decode(pieces, text), error);
  } catch (const std::exception& e) {
    *error = e.what();
    return false;
  }
}

int attnlab_spm_piece_count(const void* processor) {
  return processor_of(processor).GetPieceSize();
}

}  // extern "C"

// The signatures must match the table attnlab looks up.
static_assert(std::is_same_v<decltype(&attnlab_spm_train), abi::TrainFn>);
static_assert(std::is_same_v<decltype(&attnlab_spm_load), abi::LoadFn>);
static_assert(std::is_same_v<decltype(&attnlab_spm_unload), abi::UnloadFn>);
static_assert(std::is_same_v<decltype(&attnlab_spm_encode), abi::EncodeFn>);
static_assert(std::is_same_v<decltype(&attnlab_spm_decode), abi::DecodeFn>);
static_assert(std::is_same_v<decltype(&attnlab_spm_piece_count), abi::PieceCountFn>);
