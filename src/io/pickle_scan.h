#pragma once
// A walk over the opcodes of a pickle (protocols 0 to 5) that runs none of them, done before
// LibTorch's unpickler sees the bytes. LibTorch 1.13's unpickler trusts the lengths and memo
// indices it reads: a BINUNICODE that claims 1.9 GB makes it allocate and zero 1.9 GB before it
// finds the pickle ends 1.9 GB short, and a LONG_BINPUT index of 4e9 makes it reserve a 128 GB
// memo. The scan refuses both, so that a corrupted or hostile file costs no more memory than
// its own size.

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace attnlab {

// What the scan refuses: "at byte 17: BINUNICODE claims 1900000000 bytes, 40 are left".
class PickleScanError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct PickleOp {
  uint8_t code;  // the opcode byte ('X' for BINUNICODE, 0x80 for PROTO, ...)
  size_t pos;    // its offset in the pickle
};

// The opcodes of `data` in order, up to and including STOP. Throws PickleScanError where an
// argument runs past the end, a length exceeds the bytes left, a four-byte memo index exceeds
// the size of the pickle (each memo entry costs at least two bytes of it), or the pickle has no
// STOP. An
// opcode this scan does not know ends the walk early: the unpickler rejects it by itself.
std::vector<PickleOp> scan_pickle(const char* data, size_t size);

}  // namespace attnlab
