#include "data/tokenizer.h"

#include <c10/util/Exception.h>
#include <dlfcn.h>

#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "data/tsv.h"
#include "data/vocab.h"
#include "io/sentencepiece_abi.h"

namespace attnlab {

namespace abi = sentencepiece_abi;

// The shim's functions, opened once (io/sentencepiece_abi.h says why through dlopen).
struct SentencePieceLibrary {
  abi::TrainFn train = nullptr;
  abi::LoadFn load = nullptr;
  abi::UnloadFn unload = nullptr;
  abi::EncodeFn encode = nullptr;
  abi::DecodeFn decode = nullptr;
  abi::PieceCountFn piece_count = nullptr;
};

namespace {

// Beside the running binary (build/attnlab, build/attnlab_tests: CMake builds all three in one
// folder).
std::string shim_path() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return abi::kLibraryName;  // let dlopen search
  return (exe.parent_path() / abi::kLibraryName).string();
}

SentencePieceLibrary open_library() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // The sanitizer runtimes abort the process on dlopen(RTLD_DEEPBIND) (google/sanitizers#611),
  // and without it SentencePiece's protobuf clashes with LibTorch's: say so instead.
  throw std::invalid_argument(
      "data.tokenization=sentencepiece is not available in a sanitizer build (its module needs "
      "dlopen with RTLD_DEEPBIND, which the sanitizer runtimes refuse); use a normal build");
#endif
  const std::string path = shim_path();
  // RTLD_DEEPBIND: SentencePiece's own protobuf copy wins inside it; RTLD_LOCAL: it stays there.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (handle == nullptr)
    throw std::invalid_argument(std::string("data.tokenization=sentencepiece needs ") +
                                abi::kLibraryName + ", built with attnlab: " + dlerror());
  auto symbol = [&](const char* name) {
    void* f = dlsym(handle, name);
    if (f == nullptr)
      throw std::invalid_argument(path + " lacks " + name + " (a stale build? rebuild attnlab)");
    return f;
  };
  SentencePieceLibrary lib;
  lib.train = reinterpret_cast<abi::TrainFn>(symbol(abi::kTrain));
  lib.load = reinterpret_cast<abi::LoadFn>(symbol(abi::kLoad));
  lib.unload = reinterpret_cast<abi::UnloadFn>(symbol(abi::kUnload));
  lib.encode = reinterpret_cast<abi::EncodeFn>(symbol(abi::kEncode));
  lib.decode = reinterpret_cast<abi::DecodeFn>(symbol(abi::kDecode));
  lib.piece_count = reinterpret_cast<abi::PieceCountFn>(symbol(abi::kPieceCount));
  return lib;  // the handle stays open for the life of the process
}

// A static whose initialiser throws is initialised again on the next call, so a missing
// library is reported every time, not only the first.
const SentencePieceLibrary& library() {
  static const SentencePieceLibrary lib = open_library();
  return lib;
}

void check_utf8(const std::string& text) {
  const int64_t bad = find_invalid_utf8(text);
  if (bad >= 0)
    throw std::invalid_argument("tokenize: invalid UTF-8 at byte " + std::to_string(bad + 1));
}

}  // namespace

struct Tokenizer::SentencePiece {
  void* processor = nullptr;  // owned; the shim's SentencePieceProcessor
  std::string serialized;
  int pieces = 0;
  SentencePiece() = default;
  SentencePiece(const SentencePiece&) = delete;
  SentencePiece& operator=(const SentencePiece&) = delete;
  ~SentencePiece() {
    if (processor != nullptr) library().unload(processor);
  }
};

Tokenizer::Tokenizer(Tokenization kind) : kind_(kind) {
  TORCH_CHECK(kind != Tokenization::kSentencepiece,
              "Tokenizer: sentencepiece needs a model (train_sentencepiece or load_sentencepiece)");
}

Tokenizer::Tokenizer(Tokenization kind, std::shared_ptr<const SentencePiece> model)
    : kind_(kind), spm_(std::move(model)) {}

Tokenizer Tokenizer::train_sentencepiece(const std::vector<std::string>& texts,
                                         const SentencePieceOptions& options) {
  TORCH_CHECK(options.vocab_size > 0 && options.threads > 0, "train_sentencepiece: bad options");
  if (texts.empty()) throw std::invalid_argument("no text to train a SentencePiece model on");
  // Ids: <unk> only; no <s>/</s> (an encoder needs neither) and attnlab adds its own <pad>/<cls>.
  const std::unordered_map<std::string, std::string> args{
      {"model_type", options.model_type == SpmModelType::kBpe ? "bpe" : "unigram"},
      {"vocab_size", std::to_string(options.vocab_size)},
      {"character_coverage", std::to_string(options.character_coverage)},
      {"num_threads", std::to_string(options.threads)},
      {"unk_id", "0"},
      {"bos_id", "-1"},
      {"eos_id", "-1"},
      {"pad_id", "-1"},
      {"minloglevel", "1"},  // no progress chatter on stderr; errors still come back as Status
  };
  std::string serialized;
  std::string reason;
  if (!library().train(texts, args, &serialized, &reason)) {
    // "./src/trainer_interface.cc(660) [(a) == (b)] Vocabulary size too high ..." -> the sentence.
    const auto bracket = reason.rfind("] ");
    if (bracket != std::string::npos) reason = reason.substr(bracket + 2);
    throw std::invalid_argument("SentencePiece training failed: " + reason);
  }
  return load_sentencepiece(std::move(serialized));
}

Tokenizer Tokenizer::load_sentencepiece(std::string serialized_model) {
  auto model = std::make_shared<SentencePiece>();
  std::string error;
  model->processor = library().load(serialized_model, &error);
  if (model->processor == nullptr)
    throw std::invalid_argument("not a SentencePiece model: " + error);
  model->pieces = library().piece_count(model->processor);
  model->serialized = std::move(serialized_model);
  return Tokenizer(Tokenization::kSentencepiece, std::move(model));
}

std::vector<std::string> Tokenizer::tokenize(const std::string& text) const {
  if (kind_ != Tokenization::kSentencepiece) return attnlab::tokenize(text, kind_);
  check_utf8(text);
  std::vector<std::string> pieces;
  std::string error;
  TORCH_CHECK(library().encode(spm_->processor, text, &pieces, &error),
              "SentencePiece cannot encode text: ", error);
  return pieces;
}

std::string Tokenizer::detokenize(const std::vector<std::string>& tokens) const {
  if (kind_ != Tokenization::kSentencepiece) return attnlab::detokenize(tokens, kind_);
  std::string text;
  std::string error;
  TORCH_CHECK(library().decode(spm_->processor, tokens, &text, &error),
              "SentencePiece cannot decode pieces: ", error);
  return text;
}

const std::string& Tokenizer::sentencepiece_model() const {
  static const std::string kNone;
  return spm_ ? spm_->serialized : kNone;
}

std::string Tokenizer::describe() const {
  if (kind_ != Tokenization::kSentencepiece) return name_of(kind_);
  return "sentencepiece (" + std::to_string(spm_->pieces) + " pieces)";
}

}  // namespace attnlab
