#pragma once
// Reading the files torch::pickle_save and Python's torch.save write: a zip archive with one
// pickle ("<archive>/data.pkl") and one entry per tensor storage. Checkpoints and attention
// records are both such files; this is their one reader.
//
// LibTorch 1.13 checks neither the CRC-32 of an entry nor, in torch::pickle_load(vector), the
// end of its buffer: a flipped byte in tensor data loads silently and a truncated file makes
// the reader copy past the end of the vector. So a file is read whole, its zip structure and
// every stored entry's CRC-32 are checked first, and the archive is then unpickled through a
// reader that cannot leave the buffer. ZIP64 archives (over 4 GiB) are read through their
// ZIP64 end record; an entry whose size or offset lives in a ZIP64 extra field is left to
// LibTorch's reader unchecked.

#include <ATen/Tensor.h>
#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace attnlab {

// Anything wrong with a torch file; the message is "<path>: <what>".
class TorchFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TorchFile {
  std::string path;
  std::vector<char> bytes;  // the whole file
  std::string pickle;       // the bytes of its data.pkl entry, for a format check before unpickling
};

// Reads and checks `path`. `kind` ("an attnlab checkpoint") ends the message for a file that is
// not a zip archive: "not a torch pickle (no zip header); truncated, or not <kind>?".
TorchFile read_torch_file(const std::string& path, const std::string& kind);

// The unpickled object of a checked file.
c10::IValue unpickle(const TorchFile& file);

// A dict read from a torch file, with getters that name the key and the file when a key is
// missing or holds another type: "<where>: missing key 'step'", "<where>: key 'step' is a
// Double, expected an int". Ints are accepted where a float is expected.
class PickleDict {
 public:
  // Throws unless `value` is a dict; `what` names what it should be ("an attnlab checkpoint").
  PickleDict(const c10::IValue& value, std::string where, const std::string& what);

  bool has(const std::string& key) const;
  const c10::IValue& at(const std::string& key) const;
  int64_t integer(const std::string& key) const;
  double number(const std::string& key) const;
  std::string string(const std::string& key) const;
  at::Tensor tensor(const std::string& key) const;
  std::vector<c10::IValue> list(const std::string& key) const;
  std::vector<int64_t> integers(const std::string& key) const;
  std::vector<std::string> strings(const std::string& key) const;
  std::map<std::string, at::Tensor> tensors(const std::string& key) const;  // a str -> tensor dict
  PickleDict dict(const std::string& key) const;
  const std::string& where() const { return where_; }

  // Throws TorchFileError("<where>: <what>").
  [[noreturn]] void fail(const std::string& what) const;

 private:
  c10::impl::GenericDict dict_;
  std::string where_;
};

// The elements of a list value; throws naming `key` when `value` is not a list.
std::vector<c10::IValue> list_items(const c10::IValue& value, const std::string& key,
                                    const std::string& where);

// A list of ints (T = int64_t) or strs (T = std::string); throws naming `key`[i] otherwise.
template <typename T>
std::vector<T> list_of(const c10::IValue& value, const std::string& key, const std::string& where);

}  // namespace attnlab
