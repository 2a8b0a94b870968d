// libFuzzer harness for the attention-record reader (attention_log/record.h), as `attnlab attn`
// opens a file. Allowed outcomes: a validated record, or an AttentionLogError naming the file.
// A loaded record is saved and loaded again and must come back the same.
#include <ATen/ATen.h>

#include <cstdint>
#include <string>

#include "attention_log/record.h"
#include "fuzz_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace attnlab;
  const auto& path = fuzz::write_input(data, size, "record.pt");
  AttentionRecord r;
  try {
    r = load_record(path);
  } catch (const AttentionLogError& e) {
    if (std::string(e.what()).find(path) == std::string::npos)
      fuzz::fail("error does not name the file", e.what());
    return 0;
  }
  const std::string again = path + ".again.pt";
  save_record(again, r);
  const auto back = load_record(again);
  bool same = back.step == r.step && back.tokens == r.tokens && back.layer_ids == r.layer_ids &&
              back.head_ids == r.head_ids && back.layers.size() == r.layers.size() &&
              back.alignments.size() == r.alignments.size();
  for (size_t l = 0; same && l < r.layers.size(); ++l)
    same = at::equal(back.layers[l].nan_to_num(2.0), r.layers[l].nan_to_num(2.0));
  if (!same) fuzz::fail("save/load round trip differs", path);
  return 0;
}
