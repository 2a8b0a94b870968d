#include "io/pickle_scan.h"

#include <string>

namespace attnlab {
namespace {

// How an opcode's argument is laid out (Python's Lib/pickletools.py names each opcode).
enum class Arg {
  kNone,       // no argument
  kFixed,      // `width` bytes
  kLength,     // a little-endian length of `width` bytes, then that many bytes
  kLine,       // one newline-terminated line
  kTwoLines,   // two newline-terminated lines (GLOBAL, INST)
  kMemoIndex,  // a little-endian memo index of `width` bytes
  kUnknown,    // not an opcode of protocols 0-5
};

struct Layout {
  Arg arg;
  int width;
  const char* name;
};

Layout layout_of(uint8_t code) {
  switch (code) {
    // protocol 0 and 1
    case '(':
      return {Arg::kNone, 0, "MARK"};
    case '.':
      return {Arg::kNone, 0, "STOP"};
    case '0':
      return {Arg::kNone, 0, "POP"};
    case '1':
      return {Arg::kNone, 0, "POP_MARK"};
    case '2':
      return {Arg::kNone, 0, "DUP"};
    case 'F':
      return {Arg::kLine, 0, "FLOAT"};
    case 'I':
      return {Arg::kLine, 0, "INT"};
    case 'J':
      return {Arg::kFixed, 4, "BININT"};
    case 'K':
      return {Arg::kFixed, 1, "BININT1"};
    case 'L':
      return {Arg::kLine, 0, "LONG"};
    case 'M':
      return {Arg::kFixed, 2, "BININT2"};
    case 'N':
      return {Arg::kNone, 0, "NONE"};
    case 'P':
      return {Arg::kLine, 0, "PERSID"};
    case 'Q':
      return {Arg::kNone, 0, "BINPERSID"};
    case 'R':
      return {Arg::kNone, 0, "REDUCE"};
    case 'S':
      return {Arg::kLine, 0, "STRING"};
    case 'T':
      return {Arg::kLength, 4, "BINSTRING"};
    case 'U':
      return {Arg::kLength, 1, "SHORT_BINSTRING"};
    case 'V':
      return {Arg::kLine, 0, "UNICODE"};
    case 'X':
      return {Arg::kLength, 4, "BINUNICODE"};
    case 'a':
      return {Arg::kNone, 0, "APPEND"};
    case 'b':
      return {Arg::kNone, 0, "BUILD"};
    case 'c':
      return {Arg::kTwoLines, 0, "GLOBAL"};
    case 'd':
      return {Arg::kNone, 0, "DICT"};
    case '}':
      return {Arg::kNone, 0, "EMPTY_DICT"};
    case 'e':
      return {Arg::kNone, 0, "APPENDS"};
    case 'g':
      return {Arg::kLine, 0, "GET"};
    case 'h':
      return {Arg::kMemoIndex, 1, "BINGET"};
    case 'i':
      return {Arg::kTwoLines, 0, "INST"};
    case 'j':
      return {Arg::kMemoIndex, 4, "LONG_BINGET"};
    case 'l':
      return {Arg::kNone, 0, "LIST"};
    case ']':
      return {Arg::kNone, 0, "EMPTY_LIST"};
    case 'o':
      return {Arg::kNone, 0, "OBJ"};
    case 'p':
      return {Arg::kLine, 0, "PUT"};
    case 'q':
      return {Arg::kMemoIndex, 1, "BINPUT"};
    case 'r':
      return {Arg::kMemoIndex, 4, "LONG_BINPUT"};
    case 's':
      return {Arg::kNone, 0, "SETITEM"};
    case 't':
      return {Arg::kNone, 0, "TUPLE"};
    case ')':
      return {Arg::kNone, 0, "EMPTY_TUPLE"};
    case 'u':
      return {Arg::kNone, 0, "SETITEMS"};
    case 'G':
      return {Arg::kFixed, 8, "BINFLOAT"};
    // protocol 2
    case 0x80:
      return {Arg::kFixed, 1, "PROTO"};
    case 0x81:
      return {Arg::kNone, 0, "NEWOBJ"};
    case 0x82:
      return {Arg::kFixed, 1, "EXT1"};
    case 0x83:
      return {Arg::kFixed, 2, "EXT2"};
    case 0x84:
      return {Arg::kFixed, 4, "EXT4"};
    case 0x85:
      return {Arg::kNone, 0, "TUPLE1"};
    case 0x86:
      return {Arg::kNone, 0, "TUPLE2"};
    case 0x87:
      return {Arg::kNone, 0, "TUPLE3"};
    case 0x88:
      return {Arg::kNone, 0, "NEWTRUE"};
    case 0x89:
      return {Arg::kNone, 0, "NEWFALSE"};
    case 0x8a:
      return {Arg::kLength, 1, "LONG1"};
    case 0x8b:
      return {Arg::kLength, 4, "LONG4"};
    // protocol 3
    case 'B':
      return {Arg::kLength, 4, "BINBYTES"};
    case 'C':
      return {Arg::kLength, 1, "SHORT_BINBYTES"};
    // protocol 4
    case 0x8c:
      return {Arg::kLength, 1, "SHORT_BINUNICODE"};
    case 0x8d:
      return {Arg::kLength, 8, "BINUNICODE8"};
    case 0x8e:
      return {Arg::kLength, 8, "BINBYTES8"};
    case 0x8f:
      return {Arg::kNone, 0, "EMPTY_SET"};
    case 0x90:
      return {Arg::kNone, 0, "ADDITEMS"};
    case 0x91:
      return {Arg::kNone, 0, "FROZENSET"};
    case 0x92:
      return {Arg::kNone, 0, "NEWOBJ_EX"};
    case 0x93:
      return {Arg::kNone, 0, "STACK_GLOBAL"};
    case 0x94:
      return {Arg::kNone, 0, "MEMOIZE"};
    case 0x95:
      return {Arg::kFixed, 8, "FRAME"};
    // protocol 5
    case 0x96:
      return {Arg::kLength, 8, "BYTEARRAY8"};
    case 0x97:
      return {Arg::kNone, 0, "NEXT_BUFFER"};
    case 0x98:
      return {Arg::kNone, 0, "READONLY_BUFFER"};
    default:
      return {Arg::kUnknown, 0, "?"};
  }
}

[[noreturn]] void refuse(size_t pos, const std::string& what) {
  throw PickleScanError("at byte " + std::to_string(pos) + ": " + what);
}

uint64_t little_endian(const char* p, int width) {
  uint64_t v = 0;
  for (int i = width - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

}  // namespace

std::vector<PickleOp> scan_pickle(const char* data, size_t size) {
  std::vector<PickleOp> ops;
  size_t pos = 0;
  while (pos < size) {
    const auto code = static_cast<uint8_t>(data[pos]);
    const Layout op = layout_of(code);
    if (op.arg == Arg::kUnknown) return ops;  // the unpickler names it
    ops.push_back({code, pos});
    const size_t at = pos + 1;  // first byte of the argument
    const size_t left = size - at;
    const auto need = [&](uint64_t n, const char* what) {
      if (n > left)
        refuse(pos, std::string(op.name) + " " + what + " " + std::to_string(n) + " bytes, " +
                        std::to_string(left) + " are left");
    };
    const auto line_end = [&](size_t from) {
      for (size_t i = from; i < size; ++i)
        if (data[i] == '\n') return i + 1;
      refuse(pos, std::string(op.name) + " has no end of line before the end of the pickle");
    };
    switch (op.arg) {
      case Arg::kNone:
        pos = at;
        break;
      case Arg::kFixed:
        need(static_cast<uint64_t>(op.width), "needs");
        pos = at + static_cast<size_t>(op.width);
        break;
      case Arg::kLength: {
        need(static_cast<uint64_t>(op.width), "needs");
        const uint64_t length = little_endian(data + at, op.width);
        // `left - width` is what remains after the length field itself.
        if (length > left - static_cast<size_t>(op.width))
          refuse(pos, std::string(op.name) + " claims " + std::to_string(length) + " bytes, " +
                          std::to_string(left - static_cast<size_t>(op.width)) + " are left");
        pos = at + static_cast<size_t>(op.width) + static_cast<size_t>(length);
        break;
      }
      case Arg::kLine:
        pos = line_end(at);
        break;
      case Arg::kTwoLines:
        pos = line_end(line_end(at));
        break;
      case Arg::kMemoIndex: {
        need(static_cast<uint64_t>(op.width), "needs");
        const uint64_t index = little_endian(data + at, op.width);
        if (op.width > 1 && index > size)  // a one-byte index costs LibTorch 512 entries at most
          refuse(pos, std::string(op.name) + " memo index " + std::to_string(index) +
                          " exceeds what a pickle of " + std::to_string(size) + " bytes can hold");
        pos = at + static_cast<size_t>(op.width);
        break;
      }
      case Arg::kUnknown:
        break;
    }
    if (code == '.') return ops;
  }
  refuse(size, "the pickle ends without a STOP opcode");
}

}  // namespace attnlab
