// libFuzzer harness for the TSV reader and the char/word tokenizers (data/tsv.h, data/vocab.h).
// Allowed outcomes: examples, or a DataError. Checked on every example: char tokens concatenate
// back to the field, word tokens hold no whitespace, and a vocabulary built from them encodes
// and decodes every token back (or to <unk> only for unseen ones, of which there are none).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "data/tsv.h"
#include "data/vocab.h"

namespace {
[[noreturn]] void fail(const char* what, const std::string& text) {
  std::fprintf(stderr, "%s: '%s'\n", what, text.c_str());
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace attnlab;
  std::vector<Example> examples;
  try {
    examples = parse_tsv(std::string(reinterpret_cast<const char*>(data), size), "fuzz.tsv");
  } catch (const DataError&) {
    return 0;
  }
  std::vector<std::vector<std::string>> sequences;
  for (const auto& e : examples) {
    if (e.source.empty() || e.target.empty())
      fail("empty field accepted", e.source + "\t" + e.target);
    for (const auto* field : {&e.source, &e.target}) {
      const auto chars = tokenize(*field, Tokenization::kChar);
      if (detokenize(chars, Tokenization::kChar) != *field)
        fail("char tokens do not concatenate back", *field);
      const auto words = tokenize(*field, Tokenization::kWord);
      for (const auto& w : words)
        if (w.empty() || w.find_first_of(" \t\n\v\f\r") != std::string::npos)
          fail("bad word token", w);
      sequences.push_back(words);
      sequences.push_back(chars);
    }
  }
  const Vocab vocab = Vocab::build(sequences);
  for (const auto& sequence : sequences) {
    const auto ids = vocab.encode(sequence);
    const auto back = vocab.decode(ids);
    for (size_t i = 0; i < sequence.size(); ++i)
      if (back[i] != sequence[i] && !(ids[i] < 3 && back[i] == Vocab::specials()[ids[i]]))
        fail("vocabulary round trip", sequence[i]);
  }
  return 0;
}
