#pragma once
// A tiny hand-made reversal task for tests that need real training runs; independent of the
// generator in src/data so those tests do not move when the generator changes.

#include <string>
#include <vector>

#include "data/tsv.h"

namespace attnlab::fixtures {

// `count` examples "x y z<TAB>z y x" over `alphabet`, lengths min_len .. min_len + 3.
inline std::vector<Example> tiny_reverse_examples(int count, const std::string& alphabet,
                                                  int min_len = 3) {
  std::vector<Example> examples;
  const int size = static_cast<int>(alphabet.size());
  for (int i = 0; i < count; ++i) {
    const int len = min_len + i % 4;
    std::vector<char> symbols;
    for (int j = 0; j < len; ++j) symbols.push_back(alphabet[(i * 7 + j * 5) % size]);
    std::string src, tgt;
    for (int j = 0; j < len; ++j) {
      src += std::string(j ? " " : "") + symbols[j];
      tgt += std::string(j ? " " : "") + symbols[len - 1 - j];
    }
    examples.push_back({src, tgt, 0});
  }
  return examples;
}

}  // namespace attnlab::fixtures

namespace attnlab::fixtures {

// `count` examples of a tiny translation whose lengths differ both ways: the source words
// over "abcdef" are reversed, every "a" vanishes, every "b" becomes two words "B1 B2", the
// rest are upper-cased ("a b c c" -> "C C B1 B2"; equal neighbours need a CTC blank).
inline std::vector<Example> tiny_translation_examples(int count, int min_len = 2) {
  const std::string alphabet = "abcdef";
  std::vector<Example> examples;
  for (int i = 0; i < count; ++i) {
    const int len = min_len + i % 4;
    std::vector<char> symbols;
    for (int j = 0; j < len; ++j) symbols.push_back(alphabet[(i * 7 + j * 5 + i / 6) % 6]);
    if (std::string(symbols.begin(), symbols.end()).find_first_not_of('a') == std::string::npos)
      symbols.back() = 'c';  // keep the target non-empty
    std::string src, tgt;
    for (int j = 0; j < len; ++j) src += std::string(j ? " " : "") + symbols[j];
    for (int j = len - 1; j >= 0; --j) {
      const char s = symbols[j];
      const std::string word = s == 'a'   ? ""
                               : s == 'b' ? "B1 B2"
                                          : std::string(1, static_cast<char>(s - 32));
      if (!word.empty()) tgt += (tgt.empty() ? "" : " ") + word;
    }
    examples.push_back({src, tgt, 0});
  }
  return examples;
}

}  // namespace attnlab::fixtures
