// libFuzzer harness for the checkpoint reader (train/checkpoint.h): the bytes are written to a
// file and loaded, as `attnlab eval --checkpoint FILE` would. Allowed outcomes: a Checkpoint,
// or a CheckpointError naming the file. A loaded checkpoint is saved and loaded again, and must
// come back with the same keys and the same vocabularies.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "fuzz_file.h"
#include "train/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace attnlab;
  const auto& path = fuzz::write_input(data, size, "checkpoint.pt");
  Checkpoint c;
  try {
    c = load_checkpoint(path);
  } catch (const CheckpointError& e) {
    if (std::string(e.what()).find(path) == std::string::npos)
      fuzz::fail("error does not name the file", e.what());
    return 0;
  }
  const std::string again = path + ".again";
  save_checkpoint(again, c);
  const auto back = load_checkpoint(again);
  if (back.model.size() != c.model.size() || back.src_vocab != c.src_vocab ||
      back.tgt_vocab != c.tgt_vocab || back.labels != c.labels || back.spm_model != c.spm_model ||
      back.config_yaml != c.config_yaml)
    fuzz::fail("save/load round trip differs", path);
  return 0;
}
