#include "io/pickle_scan.h"

#include <gtest/gtest.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <sstream>
#include <string>
#include <vector>

#include "support/common.h"

namespace attnlab {
namespace {

std::string positions(const std::vector<PickleOp>& ops) {
  std::string s;
  for (const auto& op : ops) s += std::to_string(op.pos) + " ";
  return s;
}

std::string refusal(const std::string& pickle) {
  try {
    scan_pickle(pickle.data(), pickle.size());
  } catch (const PickleScanError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no refusal";
  return "";
}

// The reference: Python's pickletools.genops walks the same opcodes. For pickles of every
// protocol (0 to 5) holding every kind of argument, and for the data.pkl of a file that
// torch::pickle_save writes, the scan must stop on the same offsets.
TEST(PickleScan, FindsTheOpcodesPythonsPickletoolsFinds) {
  if (!test::python_has("pickletools")) GTEST_SKIP() << "python3 missing";
  test::ScratchDir dir;
  // A torch file's pickle, saved for Python to read too.
  c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
  dict.insert("format", std::string("attnlab.test"));
  dict.insert("step", int64_t{1} << 40);
  dict.insert("rate", 0.25);
  dict.insert("w", torch::arange(6, torch::kFloat).reshape({2, 3}));
  c10::List<std::string> names;
  for (int i = 0; i < 300; ++i) names.push_back("name" + std::to_string(i));  // memo ids > 255
  dict.insert("names", names);
  const auto archive = torch::pickle_save(c10::IValue(dict));
  test::write_bytes(dir.file("torch.pt"), archive, archive.size());

  const auto r = test::run_python(dir, R"(import io, pickle, pickletools, sys, zipfile
d = sys.argv[0].rsplit("/", 1)[0]
z = zipfile.ZipFile(d + "/torch.pt")
pickles = {"torch": z.read([n for n in z.namelist() if n.endswith("/data.pkl")][0])}
shared = ["shared"]
value = {"small": 7, "int2": 300, "int4": -70000, "big": 2**70, "huge": 2**2100, "f": 1.5,
         "s": "short", "long": "x" * 300, "b": b"by", "bl": b"y" * 300, "ba": bytearray(b"ab"),
         "t0": (), "t1": (1,), "t2": (1, 2), "t3": (1, 2, 3), "t4": (1, 2, 3, 4),
         "set": {1, 2}, "fs": frozenset({3}), "none": None, "yes": True, "no": False,
         "nested": [[1, [2, {"k": shared}]], shared], "cls": complex(1, 2), "uni": "\u00e9\u4e2d"}
for protocol in range(0, 6):
    pickles["p%d" % protocol] = pickle.dumps(value, protocol=protocol)
for name, data in pickles.items():
    open(d + "/" + name + ".pkl", "wb").write(data)
    print(name, " ".join(str(pos) for _, _, pos in pickletools.genops(data)))
)");
  ASSERT_EQ(r.rc, 0) << r.out;
  std::istringstream lines(r.out);
  int checked = 0;
  for (std::string line; std::getline(lines, line);) {
    const auto space = line.find(' ');
    const std::string name = line.substr(0, space);
    const auto bytes = test::read_bytes(dir.file(name + ".pkl"));
    const auto ops = scan_pickle(bytes.data(), bytes.size());
    EXPECT_EQ(positions(ops), line.substr(space + 1) + " ") << name;
    EXPECT_EQ(ops.back().code, '.') << name;
    ++checked;
  }
  EXPECT_EQ(checked, 7);
}

TEST(PickleScan, RefusesLengthsPastTheEnd) {
  // BINUNICODE (X) with a 4-byte length of 0x7fffffff and 3 bytes after it.
  const std::string unicode(
      "\x80\x02X\xff\xff\xff\x7f"
      "abc.",
      11);
  test::expect_contains(refusal(unicode),
                        "at byte 2: BINUNICODE claims 2147483647 bytes, 4 are left");
  // Exactly the bytes left is fine: SHORT_BINUNICODE of 3 bytes, then STOP.
  const std::string fits(
      "\x80\x04\x8c\x03"
      "abc.",
      8);
  EXPECT_EQ(scan_pickle(fits.data(), fits.size()).size(), 3u);
  // One byte more is not.
  const std::string over(
      "\x80\x04\x8c\x05"
      "abc.",
      8);
  test::expect_contains(refusal(over), "SHORT_BINUNICODE claims 5 bytes, 4 are left");
  // 8-byte lengths (protocol 4) near 2^64 must not wrap around.
  const std::string bytes8("\x8e\xff\xff\xff\xff\xff\xff\xff\xff.", 10);
  test::expect_contains(refusal(bytes8), "BINBYTES8 claims 18446744073709551615 bytes, 1 are left");
  const std::string long4("\x8b\x00\x00\x00\x80.", 6);
  test::expect_contains(refusal(long4), "LONG4 claims 2147483648 bytes");
}

TEST(PickleScan, RefusesMemoIndicesThePickleCannotHold) {
  // EMPTY_LIST, LONG_BINPUT 0xffffffff: LibTorch would reserve a memo of 2^33 entries.
  const std::string put("]r\xff\xff\xff\xff.", 7);
  test::expect_contains(
      refusal(put),
      "at byte 1: LONG_BINPUT memo index 4294967295 exceeds what a pickle of 7 bytes");
  const std::string get("j\x00\x00\x01\x00.", 6);
  test::expect_contains(refusal(get), "LONG_BINGET memo index 65536");
  // A one-byte index is never refused.
  const std::string small("]q\xff.", 4);
  EXPECT_EQ(scan_pickle(small.data(), small.size()).size(), 3u);
}

TEST(PickleScan, RefusesCutArgumentsAndAMissingStop) {
  test::expect_contains(refusal(std::string("J\x01\x02", 3)),
                        "at byte 0: BININT needs 4 bytes, 2 are left");
  test::expect_contains(refusal("ctorch\n_utils"),
                        "GLOBAL has no end of line before the end of the pickle");
  test::expect_contains(refusal("I12\n"), "at byte 4: the pickle ends without a STOP opcode");
  test::expect_contains(refusal(""), "the pickle ends without a STOP opcode");
}

TEST(PickleScan, StopsAtAnOpcodeItDoesNotKnowAndAtStop) {
  // 0xff is no opcode: the walk ends there, and the unpickler names it.
  const std::string unknown(
      "]\xff"
      "X\xff\xff\xff\xff",
      7);
  const auto ops = scan_pickle(unknown.data(), unknown.size());
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].code, ']');
  // Bytes after STOP are not opcodes.
  const std::string trailing("N.X\xff\xff\xff\xff", 7);
  EXPECT_EQ(scan_pickle(trailing.data(), trailing.size()).size(), 2u);
}

}  // namespace
}  // namespace attnlab
