#include "io/torch_file.h"

#include <gtest/gtest.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "support/common.h"

namespace attnlab {
namespace {

using GenericDict = c10::impl::GenericDict;

// A dict like the ones checkpoints hold: ints, a float, a string, string lists, tensors.
std::vector<char> sample_file_bytes() {
  GenericDict dict(c10::StringType::get(), c10::AnyType::get());
  dict.insert("format", std::string("attnlab.test"));
  dict.insert("step", int64_t{42});
  dict.insert("rate", 0.25);
  dict.insert("whole", int64_t{3});
  c10::List<std::string> names;
  names.push_back("a");
  names.push_back("b");
  dict.insert("names", names);
  c10::List<int64_t> ids;
  ids.push_back(7);
  ids.push_back(-1);
  dict.insert("ids", ids);
  GenericDict tensors(c10::StringType::get(), c10::TensorType::get());
  // 0x41c80000 = 25.0f: a pattern easy to find in the file.
  tensors.insert("w", torch::full({64}, 25.0f));
  dict.insert("tensors", tensors);
  GenericDict inner(c10::StringType::get(), c10::AnyType::get());
  inner.insert("k", int64_t{5});
  dict.insert("inner", inner);
  return torch::pickle_save(c10::IValue(dict));
}

std::string error_of(const std::string& path) {
  try {
    read_torch_file(path, "a test file");
  } catch (const TorchFileError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a TorchFileError: " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error for " << path;
  return "";
}

uint64_t le(const std::vector<char>& b, size_t at, int width) {
  uint64_t v = 0;
  for (int i = width - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
  return v;
}

// The same archive with its classic end record saying "see ZIP64" (0xFFFF entries, 0xFFFFFFFF
// directory size and offset), as writers do past 4 GiB, so that a reader must follow the ZIP64
// locator and end record (which LibTorch's writer always adds) to find the directory.
std::vector<char> with_zip64_end(std::vector<char> b) {
  const size_t end = b.size() - 22;
  EXPECT_EQ(le(b, end, 4), 0x06054b50u) << "expected an end record without a comment";
  EXPECT_EQ(le(b, end - 20, 4), 0x07064b50u) << "expected LibTorch's ZIP64 locator";
  for (size_t at = end + 8; at < end + 20; ++at) b[at] = static_cast<char>(0xFF);
  return b;
}

size_t find_tensor_bytes(const std::vector<char>& b) {
  const float value = 25.0f;
  char pattern[16];
  for (int i = 0; i < 4; ++i) std::memcpy(pattern + 4 * i, &value, 4);
  const std::string haystack(b.begin(), b.end());
  return haystack.find(std::string(pattern, sizeof(pattern)));
}

TEST(TorchFile, ReadsWhatPickleSaveWritesWithTypedGetters) {
  test::ScratchDir dir;
  const auto path = dir.file("sample.pt");
  const auto bytes = sample_file_bytes();
  test::write_bytes(path, bytes, bytes.size());
  const auto file = read_torch_file(path, "a test file");
  EXPECT_EQ(file.bytes, bytes);
  const PickleDict dict(unpickle(file), path, "a test dict");
  EXPECT_EQ(dict.string("format"), "attnlab.test");
  EXPECT_EQ(dict.integer("step"), 42);
  EXPECT_EQ(dict.number("rate"), 0.25);
  EXPECT_EQ(dict.number("whole"), 3.0);  // an int where a float is expected
  EXPECT_EQ(dict.strings("names"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(dict.integers("ids"), (std::vector<int64_t>{7, -1}));
  const auto tensors = dict.tensors("tensors");
  ASSERT_EQ(tensors.count("w"), 1u);
  EXPECT_TRUE(torch::equal(tensors.at("w"), torch::full({64}, 25.0f)));
  EXPECT_EQ(dict.dict("inner").integer("k"), 5);
  EXPECT_TRUE(dict.has("step"));
  EXPECT_FALSE(dict.has("nope"));

  // The pickle bytes are the archive's data.pkl entry, as Python's zipfile reads it.
  if (!test::python_has("zipfile")) return;
  const auto script = dir.file("pkl.py");
  test::write_text(script, R"(import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
name = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
open(sys.argv[2], "wb").write(z.read(name))
print(z.testzip())
)");
  bool ok = false;
  const auto out = test::run_python(script, path + " " + dir.file("data.pkl"), ok);
  ASSERT_TRUE(ok) << out;
  EXPECT_EQ(out, "None\n");
  const auto expected = test::read_bytes(dir.file("data.pkl"));
  EXPECT_EQ(file.pickle, std::string(expected.begin(), expected.end()));
}

TEST(TorchFile, GettersNameTheKeyTheTypeAndTheFile) {
  test::ScratchDir dir;
  const auto path = dir.file("sample.pt");
  const auto bytes = sample_file_bytes();
  test::write_bytes(path, bytes, bytes.size());
  const PickleDict dict(unpickle(read_torch_file(path, "a test file")), path, "a test dict");
  const auto message = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const TorchFileError& e) {
      return std::string(e.what());
    }
    ADD_FAILURE() << "no TorchFileError";
    return std::string();
  };
  EXPECT_EQ(message([&] { dict.integer("nope"); }), path + ": missing key 'nope'");
  EXPECT_EQ(message([&] { dict.integer("rate"); }),
            path + ": key 'rate' is a Double, expected an int");
  EXPECT_EQ(message([&] { dict.string("step"); }), path + ": key 'step' is a Int, expected a str");
  EXPECT_EQ(message([&] { dict.tensor("names"); }),
            path + ": key 'names' is a GenericList, expected a tensor");
  EXPECT_EQ(message([&] { dict.strings("ids"); }),
            path + ": key 'ids'[0] is a Int, expected a str");
  EXPECT_EQ(message([&] { dict.integers("names"); }),
            path + ": key 'names'[0] is a String, expected an int");
  EXPECT_EQ(message([&] { dict.dict("step"); }), path + ": key 'step' is a Int, expected a dict");
  EXPECT_EQ(message([&] { PickleDict(c10::IValue(torch::ones({2})), path, "a test dict"); }),
            path + ": not a test dict (holds a Tensor, not a dict)");
}

TEST(TorchFile, EveryTruncationIsAnErrorNamingTheFile) {
  test::ScratchDir dir;
  const auto bytes = sample_file_bytes();
  const auto path = dir.file("cut.pt");
  for (size_t n = 0; n < bytes.size(); n += (n < 64 || n + 64 > bytes.size()) ? 1 : 37) {
    test::write_bytes(path, bytes, n);
    std::string message;
    try {
      unpickle(read_torch_file(path, "a test file"));
      ADD_FAILURE() << "a file cut to " << n << " of " << bytes.size() << " bytes was read";
      continue;
    } catch (const TorchFileError& e) {
      message = e.what();
    }
    test::expect_contains(message, path);
  }
}

TEST(TorchFile, FlippedTensorByteFailsTheCrcCheck) {
  test::ScratchDir dir;
  auto bytes = sample_file_bytes();
  const size_t at = find_tensor_bytes(bytes);
  ASSERT_NE(at, std::string::npos);
  bytes[at + 5] = static_cast<char>(bytes[at + 5] ^ 0x01);
  const auto path = dir.file("flipped.pt");
  test::write_bytes(path, bytes, bytes.size());
  const auto message = error_of(path);
  test::expect_contains(message, path + ": corrupted (CRC-32 mismatch in '");
  test::expect_contains(message, "/data/0')");
}

TEST(TorchFile, Zip64EndRecordIsReadAndItsEntriesChecked) {
  test::ScratchDir dir;
  const auto zip64 = with_zip64_end(sample_file_bytes());
  const auto path = dir.file("zip64.pt");
  test::write_bytes(path, zip64, zip64.size());
  if (test::python_has("zipfile")) {  // the rewritten archive is valid for an independent reader
    const auto script = dir.file("check.py");
    test::write_text(script,
                     "import sys, zipfile\nprint(zipfile.ZipFile(sys.argv[1]).testzip())\n");
    bool ok = false;
    const auto out = test::run_python(script, path, ok);
    ASSERT_TRUE(ok) << out;
    EXPECT_EQ(out, "None\n");
  }
  const auto file = read_torch_file(path, "a test file");
  EXPECT_NE(file.pickle.find("attnlab.test"), std::string::npos);

  auto damaged = zip64;
  damaged[find_tensor_bytes(damaged) + 2] ^= 0x10;
  test::write_bytes(path, damaged, damaged.size());
  test::expect_contains(error_of(path), "CRC-32 mismatch");

  auto bad_locator = zip64;
  bad_locator[bad_locator.size() - 22 - 20 + 8] ^= 0x40;  // offset of the ZIP64 record
  test::write_bytes(path, bad_locator, bad_locator.size());
  test::expect_contains(error_of(path), "zip64");
}

// Files that torch.save (Python) writes, and the same files with one field of the pickle
// changed and the zip rewritten with correct CRCs, as a corrupted or hostile file can be.
// LibTorch's unpickler checks neither a storage's size against its entry nor a tensor's shape
// against its storage; unpickle() must, or a later read leaves the tensor's memory.
TEST(TorchFile, TensorsThatLeaveTheirStorageAreRefused) {
  if (!test::python_has("torch")) GTEST_SKIP() << "python3-torch missing";
  test::ScratchDir dir;
  const auto r = test::run_python(dir, R"(import io, pickletools, struct, sys, torch, zipfile
d = sys.argv[0].rsplit("/", 1)[0]
base = torch.arange(20, dtype=torch.float32)
# Two keys each: Python writes a one-key dict with SETITEM, which LibTorch 1.13 cannot read.
torch.save({"view": base.reshape(4, 5)[1:, ::2], "n": 1}, d + "/view.pt")  # offset 5, stride (5, 2)
torch.save({"expanded": torch.ones(1).expand(1000), "n": 1}, d + "/expanded.pt")
torch.save({"w": torch.zeros(3, 5), "n": 1}, d + "/plain.pt")
print(base.reshape(4, 5)[1:, ::2].flatten().tolist())

def int_op(v):
    return b"J" + struct.pack("<i", v)

def patched(name, edit):
    # Replaces one int of the pickle: the storage's element count (the last int before
    # BINPERSID) or, from the ints after it, the offset, the second size or the first stride.
    src = zipfile.ZipFile(d + "/plain.pt")
    out = zipfile.ZipFile(d + "/" + name + ".pt", "w", zipfile.ZIP_STORED)
    for entry in src.namelist():
        data = src.read(entry)
        if entry.endswith("/data.pkl"):
            ops = list(pickletools.genops(data))
            q = [i for i, (op, _, _) in enumerate(ops) if op.name == "BINPERSID"][0]
            ints = [i for i, (op, _, _) in enumerate(ops) if op.name.startswith("BININT")]
            after = [i for i in ints if i > q]
            where = {"numel": [i for i in ints if i < q][-1], "offset": after[0], "size": after[2],
                     "stride": after[3]}
            key, value = edit
            i = where[key]
            assert ops[i][0].name.startswith("BININT"), ops[i]
            start, end = ops[i][2], ops[i + 1][2]
            data = data[:start] + int_op(value) + data[end:]
        out.writestr(entry, data)
    out.close()

patched("huge_storage", ("numel", 1 << 28))
patched("wide", ("size", 50))
patched("offset", ("offset", 10))
patched("negative_size", ("size", -1))
patched("negative_stride", ("stride", -1))
)");
  ASSERT_EQ(r.rc, 0) << r.out;

  // A view inside its storage loads, with the values Python sees.
  const auto view = PickleDict(unpickle(read_torch_file(dir.file("view.pt"), "a test file")),
                               dir.file("view.pt"), "a dict")
                        .tensor("view");
  EXPECT_EQ(view.sizes(), (std::vector<int64_t>{3, 3}));
  std::string values = "[";
  for (int64_t i = 0; i < view.numel(); ++i)
    values += (i ? ", " : "") + std::to_string(view.flatten()[i].item<float>()).substr(0, 4);
  EXPECT_EQ(values + "]\n", "[5.00, 7.00, 9.00, 10.0, 12.0, 14.0, 15.0, 17.0, 19.0]\n");
  EXPECT_EQ(r.out, "[5.0, 7.0, 9.0, 10.0, 12.0, 14.0, 15.0, 17.0, 19.0]\n");
  EXPECT_NO_THROW(unpickle(read_torch_file(dir.file("plain.pt"), "a test file")));

  const auto refusal = [&](const std::string& name) {
    const auto path = dir.file(name + ".pt");
    try {
      unpickle(read_torch_file(path, "a test file"));
    } catch (const TorchFileError& e) {
      test::expect_contains(e.what(), path + ": ");
      return std::string(e.what());
    }
    ADD_FAILURE() << name << " was read";
    return std::string();
  };
  test::expect_contains(refusal("huge_storage"),
                        "corrupted (a tensor of shape [3, 5] has a storage of 1073741824 bytes, "
                        "the file holds 60 for it)");
  test::expect_contains(refusal("wide"),
                        "corrupted (a tensor of shape [3, 50] at storage offset 0 "
                        "reaches past its storage of 15 elements)");
  test::expect_contains(refusal("offset"),
                        "corrupted (a tensor of shape [3, 5] at storage offset 10 "
                        "reaches past its storage of 15 elements)");
  // LibTorch refuses a negative size itself, and turns a negative stride into a contiguous one.
  test::expect_contains(refusal("negative_size"), "cannot unpickle");
  const auto contiguous =
      PickleDict(unpickle(read_torch_file(dir.file("negative_stride.pt"), "a test file")),
                 dir.file("negative_stride.pt"), "a dict")
          .tensor("w");
  EXPECT_EQ(contiguous.strides(), (std::vector<int64_t>{5, 1}));
  test::expect_contains(refusal("expanded"),
                        "not supported (a tensor of shape [1000] holds more "
                        "elements than its storage of 1: an expanded view?)");
}

// A pickle whose string claims more bytes than the file holds is refused before LibTorch's
// unpickler allocates them (it would zero 1.9 GB here).
TEST(TorchFile, PickleLengthsPastTheEndAreRefusedBeforeUnpickling) {
  if (!test::python_has("zipfile")) GTEST_SKIP() << "python3 missing";
  test::ScratchDir dir;
  const auto bytes = sample_file_bytes();
  test::write_bytes(dir.file("good.pt"), bytes, bytes.size());
  const auto r = test::run_python(dir, R"(import struct, sys, zipfile
d = sys.argv[0].rsplit("/", 1)[0]
src = zipfile.ZipFile(d + "/good.pt")
out = zipfile.ZipFile(d + "/long.pt", "w", zipfile.ZIP_STORED)
for entry in src.namelist():
    data = src.read(entry)
    if entry.endswith("/data.pkl"):
        at = data.index(b"X\x06\x00\x00\x00format")
        data = data[:at] + b"X" + struct.pack("<I", 1900000000) + data[at + 5:]
    out.writestr(entry, data)
out.close()
)");
  ASSERT_EQ(r.rc, 0) << r.out;
  const auto path = dir.file("long.pt");
  try {
    unpickle(read_torch_file(path, "a test file"));
    ADD_FAILURE() << "read";
  } catch (const TorchFileError& e) {
    test::expect_contains(e.what(), path + ": corrupted pickle (data.pkl at byte ");
    test::expect_contains(e.what(), ": BINUNICODE claims 1900000000 bytes, ");
  }
}

TEST(TorchFile, ForeignAndMissingFilesAreNamed) {
  test::ScratchDir dir;
  test::expect_contains(error_of(dir.file("missing.pt")),
                        dir.file("missing.pt") + ": no such file");
  test::expect_contains(error_of(dir.path().string()), "is a directory, not a test file");
  test::write_text(dir.file("empty.pt"), "");
  test::expect_contains(error_of(dir.file("empty.pt")), "empty file");
  test::write_text(dir.file("text.pt"), "hello, not a zip\n");
  test::expect_contains(error_of(dir.file("text.pt")),
                        "not a torch pickle (no zip header); truncated, or not a test file?");
  test::write_text(dir.file("pk.pt"),
                   "PK but nothing else of a zip archive, long enough to search");
  test::expect_contains(error_of(dir.file("pk.pt")), "no zip end-of-directory record");
}

}  // namespace
}  // namespace attnlab
