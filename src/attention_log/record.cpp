#include "attention_log/record.h"

#include <ATen/ATen.h>
#include <ATen/core/Dict.h>
#include <ATen/core/List.h>
#include <ATen/core/ivalue.h>
#include <c10/util/Exception.h>
#include <torch/serialize.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>
#include <utility>

#include "data/image_set.h"
#include "io/atomic_file.h"
#include "io/text.h"
#include "io/torch_file.h"

namespace attnlab {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw AttentionLogError(where + ": " + what);
}

std::string shape_string(const at::Tensor& t) {
  std::string s = "(";
  for (int64_t d = 0; d < t.dim(); ++d) s += (d ? ", " : "") + std::to_string(t.size(d));
  return s + ")";
}

void check_ids(const std::vector<int64_t>& ids, const char* key, const std::string& where) {
  if (ids.empty()) fail(where, std::string("'") + key + "' is empty");
  std::set<int64_t> seen;
  for (auto id : ids) {
    if (id < 0) fail(where, std::string("'") + key + "' holds a negative id " + std::to_string(id));
    if (!seen.insert(id).second)
      fail(where, std::string("'") + key + "' holds id " + std::to_string(id) + " twice");
  }
}

// --- writing -------------------------------------------------------------------------------

c10::List<int64_t> int_list(const std::vector<int64_t>& values) {
  c10::List<int64_t> list;
  list.reserve(values.size());
  for (auto v : values) list.push_back(v);
  return list;
}

c10::List<std::string> string_list(const std::vector<std::string>& values) {
  c10::List<std::string> list;
  list.reserve(values.size());
  for (const auto& v : values) list.push_back(v);
  return list;
}

// --- reading -------------------------------------------------------------------------------

AttentionRecord record_from_ivalue(const c10::IValue& root, const std::string& where) {
  const PickleDict dict(root, where, "an attnlab attention record");
  if (!dict.has("format") || !dict.at("format").isString() ||
      dict.at("format").toStringRef() != kAttentionFormat)
    fail(where, std::string("not an attnlab attention record (its 'format' is not '") +
                    kAttentionFormat + "')");
  const auto version = dict.integer("version");
  if (version > kAttentionFormatVersion)
    fail(where, "format version " + std::to_string(version) +
                    " is newer than this attnlab reads (" +
                    std::to_string(kAttentionFormatVersion) + ")");
  if (version < 1) fail(where, "invalid format version " + std::to_string(version));

  AttentionRecord record;
  record.step = dict.integer("step");
  record.source = dict.string("source");
  const auto examples = dict.list("tokens");
  for (size_t n = 0; n < examples.size(); ++n) {
    record.tokens.push_back(
        list_of<std::string>(examples[n], "tokens[" + std::to_string(n) + "]", where));
  }
  record.lengths = dict.integers("lengths");
  record.layer_ids = dict.integers("layer_ids");
  record.head_ids = dict.integers("head_ids");
  const auto layers = dict.list("layers");
  for (size_t l = 0; l < layers.size(); ++l) {
    if (!layers[l].isTensor())
      fail(where, "layers[" + std::to_string(l) + "] is a " + std::string(layers[l].tagKind()) +
                      ", expected a tensor");
    record.layers.push_back(layers[l].toTensor());
  }
  if (dict.has("alignments")) {  // translation records only
    const auto items = dict.list("alignments");
    for (size_t n = 0; n < items.size(); ++n) {
      const std::string key = "alignments[" + std::to_string(n) + "]";
      const PickleDict a(items[n], where + ": " + key, "a dict");
      RecordAlignment alignment;
      alignment.source = a.strings("source");
      alignment.outputs = a.strings("outputs");
      alignment.positions = a.integers("positions");
      alignment.weights = a.tensor("weights");
      record.alignments.push_back(std::move(alignment));
    }
  }
  if (dict.has("images")) {  // image records only
    record.images.pixels = dict.tensor("images");
    record.images.patch_size = dict.integer("patch_size");
    record.images.names = dict.strings("image_names");
  }
  validate_record(record, where);
  return record;
}

void validate_images(const AttentionRecord& r, const std::string& where) {
  const auto& im = r.images;
  const auto& p = im.pixels;
  const auto N = r.num_examples();
  if (p.scalar_type() != at::kByte || !p.device().is_cpu() || p.dim() != 4 || p.size(0) != N ||
      (p.size(1) != 1 && p.size(1) != 3))
    fail(where, "images must be a uint8 CPU tensor of shape (N=" + std::to_string(N) +
                    ", C=1 or 3, H, W), got " + shape_string(p) + " " +
                    c10::toString(p.scalar_type()));
  const auto H = p.size(2), W = p.size(3), P = im.patch_size;
  if (H < 1 || W < 1 || H > kMaxImageSide || W > kMaxImageSide)
    fail(where, "images of " + std::to_string(H) + "x" + std::to_string(W) + " pixels");
  if (P < 1 || H % P != 0 || W % P != 0)
    fail(where, "patch_size " + std::to_string(P) + " does not divide the " + std::to_string(H) +
                    "x" + std::to_string(W) + " images");
  if (static_cast<int64_t>(im.names.size()) != N)
    fail(where,
         std::to_string(im.names.size()) + " image names for " + std::to_string(N) + " examples");
  const auto T = 1 + (H / P) * (W / P);
  for (int64_t n = 0; n < N; ++n)
    if (r.lengths[static_cast<size_t>(n)] != T)
      fail(where, "example " + std::to_string(n) + " has length " +
                      std::to_string(r.lengths[static_cast<size_t>(n)]) + " but its " +
                      std::to_string(H) + "x" + std::to_string(W) + " image in " +
                      std::to_string(P) + "x" + std::to_string(P) + " patches makes " +
                      std::to_string(T) + " tokens (<cls> and the patches)");
}

}  // namespace

void validate_record(const AttentionRecord& r, const std::string& where) {
  if (r.step < 0) fail(where, "negative step " + std::to_string(r.step));
  if (r.source != "train" && r.source != "eval" && r.source != "predict")
    fail(where, "unknown source '" + r.source + "' (expected train, eval or predict)");
  const auto N = r.num_examples();
  if (N == 0) fail(where, "no examples");
  if (static_cast<int64_t>(r.lengths.size()) != N)
    fail(where,
         std::to_string(N) + " token lists but " + std::to_string(r.lengths.size()) + " lengths");
  int64_t max_len = 0;
  for (int64_t n = 0; n < N; ++n) {
    const auto len = r.lengths[static_cast<size_t>(n)];
    const auto count = static_cast<int64_t>(r.tokens[static_cast<size_t>(n)].size());
    if (len < 1 || len != count)
      fail(where, "example " + std::to_string(n) + " has length " + std::to_string(len) + " but " +
                      std::to_string(count) + " tokens");
    max_len = std::max(max_len, len);
  }
  check_ids(r.layer_ids, "layer_ids", where);
  check_ids(r.head_ids, "head_ids", where);
  if (r.layers.size() != r.layer_ids.size())
    fail(where, std::to_string(r.layer_ids.size()) + " layer ids but " +
                    std::to_string(r.layers.size()) + " layer tensors");
  const auto H = r.num_heads();
  for (size_t l = 0; l < r.layers.size(); ++l) {
    const auto& w = r.layers[l];
    const auto name = "layers[" + std::to_string(l) + "]";
    if (!w.defined()) fail(where, name + " is an undefined tensor");
    if (w.scalar_type() != at::kFloat)
      fail(where, name + " has dtype " + std::string(c10::toString(w.scalar_type())) +
                      ", expected float32");
    if (!w.device().is_cpu()) fail(where, name + " is not on the CPU");
    if (w.dim() != 4 || w.size(0) != N || w.size(1) != H || w.size(2) != w.size(3) ||
        w.size(2) < max_len)
      fail(where, name + " has shape " + shape_string(w) + ", expected (N=" + std::to_string(N) +
                      ", H'=" + std::to_string(H) + ", T, T) with T >= " + std::to_string(max_len));
    const auto T = w.size(2);
    // inside: (N, 1, T, T) true where both query and key are within the example's length.
    const auto positions = at::arange(T, at::kLong);                                   // (T)
    const auto valid = positions.unsqueeze(0).lt(at::tensor(r.lengths).unsqueeze(1));  // (N, T)
    const auto inside =
        valid.unsqueeze(1).unsqueeze(3).logical_and(valid.unsqueeze(1).unsqueeze(2));
    const auto not_nan = w.isnan().logical_not();
    if (w.ne(0).logical_and(not_nan).logical_and(inside.logical_not()).any().item<bool>())
      fail(where, name + " has non-zero weights beyond an example's length");
    if (w.lt(0).logical_or(w.gt(1.0 + 1e-3)).any().item<bool>())
      fail(where, name + " has weights outside [0, 1]");
  }
  if (!r.alignments.empty() && static_cast<int64_t>(r.alignments.size()) != N)
    fail(where, std::to_string(r.alignments.size()) + " alignments for " + std::to_string(N) +
                    " examples");
  for (size_t n = 0; n < r.alignments.size(); ++n) {
    const auto& a = r.alignments[n];
    const auto name = "alignments[" + std::to_string(n) + "]";
    const auto J = static_cast<int64_t>(a.outputs.size());
    const auto S = static_cast<int64_t>(a.source.size());
    if (S == 0) fail(where, name + " has no source tokens");
    if (static_cast<int64_t>(a.positions.size()) != J)
      fail(where, name + " has " + std::to_string(J) + " outputs but " +
                      std::to_string(a.positions.size()) + " positions");
    for (auto p : a.positions)
      if (p < 0) fail(where, name + " holds a negative position " + std::to_string(p));
    const auto& w = a.weights;
    if (!w.defined() || w.scalar_type() != at::kFloat || !w.device().is_cpu() || w.dim() != 2 ||
        w.size(0) != J || w.size(1) != S)
      fail(where,
           name + " weights must be a float32 CPU tensor of shape (J=" + std::to_string(J) +
               ", S=" + std::to_string(S) + "), got " +
               (w.defined() ? shape_string(w) + " " + c10::toString(w.scalar_type()) : "none"));
    if (w.lt(0).logical_or(w.gt(1.0 + 1e-3)).any().item<bool>())
      fail(where, name + " has weights outside [0, 1]");
  }
  if (!r.images.empty()) validate_images(r, where);
}

void save_record(const std::string& path, const AttentionRecord& record) {
  AttentionRecord stored = record;
  for (auto& w : stored.layers)
    if (w.defined() && w.is_floating_point()) w = w.detach().to(at::kCPU, at::kFloat).contiguous();
  for (auto& a : stored.alignments)
    if (a.weights.defined() && a.weights.is_floating_point())
      a.weights = a.weights.detach().to(at::kCPU, at::kFloat).contiguous();
  validate_record(stored, path);

  c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
  dict.insert(std::string("format"), std::string(kAttentionFormat));
  dict.insert(std::string("version"), kAttentionFormatVersion);
  dict.insert(std::string("step"), stored.step);
  dict.insert(std::string("source"), stored.source);
  c10::List<c10::List<std::string>> tokens;
  for (const auto& example : stored.tokens) tokens.push_back(string_list(example));
  dict.insert(std::string("tokens"), tokens);
  dict.insert(std::string("lengths"), int_list(stored.lengths));
  dict.insert(std::string("layer_ids"), int_list(stored.layer_ids));
  dict.insert(std::string("head_ids"), int_list(stored.head_ids));
  c10::List<at::Tensor> layers;
  for (const auto& w : stored.layers) layers.push_back(w);
  dict.insert(std::string("layers"), layers);
  if (!stored.alignments.empty()) {
    c10::impl::GenericList alignments(c10::AnyType::get());
    for (const auto& a : stored.alignments) {
      c10::impl::GenericDict entry(c10::StringType::get(), c10::AnyType::get());
      entry.insert(std::string("source"), string_list(a.source));
      entry.insert(std::string("outputs"), string_list(a.outputs));
      entry.insert(std::string("positions"), int_list(a.positions));
      entry.insert(std::string("weights"), a.weights);
      alignments.push_back(c10::IValue(std::move(entry)));
    }
    dict.insert(std::string("alignments"), alignments);
  }
  if (!stored.images.empty()) {
    dict.insert(std::string("images"), stored.images.pixels.contiguous());
    dict.insert(std::string("patch_size"), stored.images.patch_size);
    dict.insert(std::string("image_names"), string_list(stored.images.names));
  }

  std::vector<char> bytes;
  try {
    bytes = torch::pickle_save(c10::IValue(dict));
  } catch (const std::exception& e) {
    fail(path, std::string("cannot serialise record: ") + first_line(e.what()));
  }
  const auto parent = fs::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec) fail(path, "cannot create directory " + parent.string() + ": " + ec.message());
  }
  try {
    write_file_atomically(path, bytes);  // temp file + fsync + rename, as for checkpoints
  } catch (const std::exception& e) {
    fail(path, e.what());
  }
}

AttentionRecord load_record(const std::string& path) {
  try {
    const auto file = read_torch_file(path, "an attnlab attention record");
    // A torch file of something else (a checkpoint, say) is refused without unpickling it.
    if (!file.pickle.empty() && file.pickle.find(kAttentionFormat) == std::string::npos)
      fail(path,
           std::string("not an attnlab attention record (no '") + kAttentionFormat + "' in it)");
    return record_from_ivalue(unpickle(file), path);
  } catch (const AttentionLogError&) {
    throw;
  } catch (const TorchFileError& e) {
    throw AttentionLogError(e.what());
  } catch (const std::exception& e) {
    fail(path, "invalid record (" + first_line(e.what()) + ")");
  }
}

std::string record_file_name(int64_t step) {
  TORCH_CHECK(step >= 0, "record_file_name: negative step ", step);
  char name[40];
  std::snprintf(name, sizeof(name), "step_%08lld.pt", static_cast<long long>(step));
  return name;
}

int64_t step_from_file_name(const std::string& file_name) {
  const std::string prefix = "step_", suffix = ".pt";
  if (file_name.size() <= prefix.size() + suffix.size() || file_name.rfind(prefix, 0) != 0 ||
      file_name.compare(file_name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return -1;
  const auto digits =
      file_name.substr(prefix.size(), file_name.size() - prefix.size() - suffix.size());
  if (digits.size() > 18 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return -1;
  return std::stoll(digits);
}

std::vector<std::string> list_records(const std::string& attention_dir) {
  std::error_code ec;
  if (!fs::is_directory(attention_dir, ec)) fail(attention_dir, "no such directory");
  std::vector<std::pair<int64_t, std::string>> found;
  for (const auto& entry : fs::directory_iterator(attention_dir, ec)) {
    const auto step = step_from_file_name(entry.path().filename().string());
    if (step >= 0 && entry.is_regular_file()) found.emplace_back(step, entry.path().string());
  }
  if (ec) fail(attention_dir, "cannot list: " + ec.message());
  std::sort(found.begin(), found.end());
  std::vector<std::string> paths;
  for (auto& f : found) paths.push_back(std::move(f.second));
  return paths;
}

AttentionRecord AttentionLog::load(size_t i) const {
  TORCH_CHECK(i < paths.size(), "AttentionLog::load: index ", i, " of ", paths.size());
  auto record = load_record(paths[i]);
  if (record.step != steps[i])
    fail(paths[i], "expected step " + std::to_string(steps[i]) +
                       " (from its name) but it holds step " + std::to_string(record.step));
  return record;
}

int64_t AttentionLog::index_of(int64_t step) const {
  const auto it = std::find(steps.begin(), steps.end(), step);
  return it == steps.end() ? -1 : static_cast<int64_t>(it - steps.begin());
}

AttentionLog load_log(const std::string& location) {
  std::error_code ec;
  AttentionLog log;
  log.location = location;
  if (!fs::exists(location, ec)) fail(location, "no such file or directory");
  if (!fs::is_directory(location, ec)) {  // a single record file
    const auto record = load_record(location);
    log.steps.push_back(record.step);
    log.paths.push_back(location);
    return log;
  }
  const auto sub = (fs::path(location) / "attention").string();
  const bool has_sub = fs::is_directory(sub, ec);
  const auto dir = has_sub ? sub : location;
  for (const auto& path : list_records(dir)) {
    log.steps.push_back(step_from_file_name(fs::path(path).filename().string()));
    log.paths.push_back(path);
  }
  if (log.paths.empty())
    fail(dir, has_sub ? "no attention records (step_*.pt); was the run trained with attention "
                        "logging on?"
                      : "no attention records (step_*.pt) and no attention/ subdirectory");
  return log;
}

std::vector<std::string> patch_tokens(int64_t grid_h, int64_t grid_w) {
  std::vector<std::string> tokens{"<cls>"};
  for (int64_t r = 0; r < grid_h; ++r)
    for (int64_t c = 0; c < grid_w; ++c)
      tokens.push_back("r" + std::to_string(r) + "c" + std::to_string(c));
  return tokens;
}

at::Tensor example_weights(const AttentionRecord& record, int64_t layer_index, int64_t head_index,
                           int64_t example) {
  TORCH_CHECK(layer_index >= 0 && layer_index < record.num_layers(),
              "example_weights: layer index ", layer_index, " out of range [0, ",
              record.num_layers(), ")");
  TORCH_CHECK(head_index >= -1 && head_index < record.num_heads(), "example_weights: head index ",
              head_index, " out of range [-1, ", record.num_heads(), ")");
  TORCH_CHECK(example >= 0 && example < record.num_examples(), "example_weights: example ", example,
              " out of range [0, ", record.num_examples(), ")");
  const auto L = record.lengths[static_cast<size_t>(example)];
  auto w = record.layers[static_cast<size_t>(layer_index)][example];  // (H', T, T)
  w = w.narrow(1, 0, L).narrow(2, 0, L);                              // (H', L, L)
  w = head_index < 0 ? w.mean(0) : w[head_index];                     // (L, L)
  return w.to(at::kFloat).contiguous();
}

}  // namespace attnlab
