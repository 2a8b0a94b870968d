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
