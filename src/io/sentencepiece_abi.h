#pragma once
// The boundary between attnlab and Debian's libsentencepiece.
//
// libsentencepiece.so.0 (0.1.97) carries its own copy of protobuf-lite and exports all 1,600 of
// its symbols; LibTorch loads the system libprotobuf.so.32. Linked into one process, the two
// copies interpose each other and the process crashes in libprotobuf's static initialisers
// before main(). So attnlab never links SentencePiece: a small shim library
// (libattnlab_sentencepiece.so, built from io/sentencepiece_shim.cpp, the only file that
// includes SentencePiece's headers) is opened on first use with dlopen(RTLD_LOCAL |
// RTLD_DEEPBIND): SentencePiece then resolves protobuf inside itself and its symbols never
// reach the rest of the process. These are the shim's entry points; none throws, each reports
// failure in its return value and `error`.
//
// Never name std::cerr (or std::clog) in attnlab's own code: the executable would then hold a
// copy of that object (a copy relocation), which libstdc++ initialises, while the DEEPBIND'd
// module binds to libstdc++'s own, uninitialised one; SentencePiece's first warning on it
// crashes (seen: a BPE model asked for too many pieces). Use stderr or spdlog. The
// SentencePiece tests of tests/cli/commands_test.cpp fail when it happens.

#include <string>
#include <unordered_map>
#include <vector>

namespace attnlab::sentencepiece_abi {

constexpr const char* kLibraryName = "libattnlab_sentencepiece.so";

// Trains a model on `texts` with SentencePiece's trainer flags (`args`, e.g. {"vocab_size",
// "1000"}); on success `model` holds the serialized ModelProto (a .model file's bytes).
using TrainFn = bool (*)(const std::vector<std::string>& texts,
                         const std::unordered_map<std::string, std::string>& args,
                         std::string* model, std::string* error);
// A processor for a serialized model, or nullptr (error set).
using LoadFn = void* (*)(const std::string& model, std::string* error);
using UnloadFn = void (*)(void* processor);
using EncodeFn = bool (*)(const void* processor, const std::string& text,
                          std::vector<std::string>* pieces, std::string* error);
using DecodeFn = bool (*)(const void* processor, const std::vector<std::string>& pieces,
                          std::string* text, std::string* error);
using PieceCountFn = int (*)(const void* processor);

// The exported (extern "C") names of the functions above.
constexpr const char* kTrain = "attnlab_spm_train";
constexpr const char* kLoad = "attnlab_spm_load";
constexpr const char* kUnload = "attnlab_spm_unload";
constexpr const char* kEncode = "attnlab_spm_encode";
constexpr const char* kDecode = "attnlab_spm_decode";
constexpr const char* kPieceCount = "attnlab_spm_piece_count";

}  // namespace attnlab::sentencepiece_abi
