#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <set>
#include <sstream>
#include <type_traits>
#include <variant>

namespace attnlab {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Schema: one row per YAML key, in the order to_yaml writes them. The path names the key
// ("log.attention.layers"); every proper prefix of a path is a section.

using FieldRef = std::variant<int64_t*, uint64_t*, double*, bool*, std::string*,
                              std::vector<std::string>*, std::vector<int64_t>*>;

struct Field {
  const char* path;
  FieldRef ref;
};

std::vector<Field> fields_of(Config& c) {
  return {
      {"run.name", &c.run.name},
      {"run.out_dir", &c.run.out_dir},
      {"run.seed", &c.run.seed},
      {"run.threads", &c.run.threads},
      {"data.task", &c.data.task},
      {"data.train", &c.data.train},
      {"data.valid", &c.data.valid},
      {"data.test", &c.data.test},
      {"data.tokenization", &c.data.tokenization},
      {"data.max_len", &c.data.max_len},
      {"model.d_model", &c.model.d_model},
      {"model.num_heads", &c.model.num_heads},
      {"model.num_layers", &c.model.num_layers},
      {"model.d_ff", &c.model.d_ff},
      {"model.dropout", &c.model.dropout},
      {"model.attention_dropout", &c.model.attention_dropout},
      {"model.norm", &c.model.norm},
      {"model.activation", &c.model.activation},
      {"model.positions", &c.model.positions},
      {"model.pooling", &c.model.pooling},
      {"train.batch_size", &c.train.batch_size},
      {"train.bucket_batches", &c.train.bucket_batches},
      {"train.max_steps", &c.train.max_steps},
      {"train.max_epochs", &c.train.max_epochs},
      {"train.lr", &c.train.lr},
      {"train.beta1", &c.train.beta1},
      {"train.beta2", &c.train.beta2},
      {"train.eps", &c.train.eps},
      {"train.weight_decay", &c.train.weight_decay},
      {"train.schedule", &c.train.schedule},
      {"train.warmup_steps", &c.train.warmup_steps},
      {"train.min_lr_ratio", &c.train.min_lr_ratio},
      {"train.grad_clip", &c.train.grad_clip},
      {"train.label_smoothing", &c.train.label_smoothing},
      {"train.precision", &c.train.precision},
      {"train.eval_interval", &c.train.eval_interval},
      {"train.checkpoint_interval", &c.train.checkpoint_interval},
      {"train.keep_last", &c.train.keep_last},
      {"train.best_metric", &c.train.best_metric},
      {"train.early_stopping_patience", &c.train.early_stopping_patience},
      {"train.stop_at", &c.train.stop_at},
      {"train.max_nonfinite_steps", &c.train.max_nonfinite_steps},
      {"log.interval", &c.log.interval},
      {"log.progress", &c.log.progress},
      {"log.attention.enabled", &c.log.attention.enabled},
      {"log.attention.num_examples", &c.log.attention.num_examples},
      {"log.attention.examples", &c.log.attention.examples},
      {"log.attention.every", &c.log.attention.every},
      {"log.attention.layers", &c.log.attention.layers},
      {"log.attention.heads", &c.log.attention.heads},
  };
}

std::string parent_of(const std::string& path) {
  const auto dot = path.rfind('.');
  return dot == std::string::npos ? std::string() : path.substr(0, dot);
}

std::string last_part(const std::string& path) {
  const auto dot = path.rfind('.');
  return dot == std::string::npos ? path : path.substr(dot + 1);
}

std::string join_path(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

// Key names, section names and the children of each section, derived from fields_of.
struct Schema {
  std::set<std::string> leaves;
  std::set<std::string> sections;                          // "" is the document root
  std::map<std::string, std::vector<std::string>> children;  // section -> child paths, in order

  Schema() {
    Config dummy;
    sections.insert("");
    for (const auto& field : fields_of(dummy)) {
      std::string path = field.path;
      leaves.insert(path);
      // Register the path under its parent, then each section under its own parent.
      for (std::string child = path; !child.empty(); child = parent_of(child)) {
        auto& list = children[parent_of(child)];
        if (std::find(list.begin(), list.end(), child) == list.end()) list.push_back(child);
        if (child != path) sections.insert(child);
      }
    }
  }
};

const Schema& schema() {
  static const Schema instance;
  return instance;
}

// ---------------------------------------------------------------------------------------------
// Messages.

// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
size_t edit_distance(const std::string& a, const std::string& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1, 0));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

// The closest candidate within `max_distance` edits (1 for very short words), or "".
std::string closest(const std::string& word, const std::vector<std::string>& candidates,
                    size_t max_distance = 2) {
  const size_t limit = word.size() <= 3 ? 1 : max_distance;
  std::string best;
  size_t best_distance = limit + 1;
  for (const auto& candidate : candidates) {
    const size_t distance = edit_distance(word, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::string joined(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? separator : "") + items[i];
  return out;
}

// The known path an unknown `path` most likely meant, or "": a near miss among its siblings,
// else the same key in another section ("model.lr" -> "train.lr"), else a near miss there.
std::string suggestion_for(const std::string& path) {
  const Schema& s = schema();
  const std::string section = parent_of(path);
  const std::string key = last_part(path);
  std::vector<std::string> siblings;
  for (const auto& child : s.children.at(section)) siblings.push_back(last_part(child));
  const std::string near = closest(key, siblings);
  if (!near.empty()) return join_path(section, near);
  for (const auto& leaf : s.leaves)
    if (last_part(leaf) == key) return leaf;
  for (const auto& leaf : s.leaves)
    if (parent_of(leaf) != section && !closest(key, {last_part(leaf)}).empty()) return leaf;
  return "";
}

// "unknown key; did you mean 'model.d_model'?" for an unknown `path`, or the list of known keys.
std::string unknown_key_message(const std::string& path) {
  const std::string section = parent_of(path);
  const std::string what = section.empty() ? "unknown section" : "unknown key";
  const std::string suggestion = suggestion_for(path);
  if (!suggestion.empty()) return what + "; did you mean '" + suggestion + "'?";
  std::vector<std::string> siblings;
  for (const auto& child : schema().children.at(section)) siblings.push_back(last_part(child));
  return what + " (" + (section.empty() ? "sections are" : "keys in " + section + " are") + " " +
         joined(siblings, ", ") + ")";
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// How a node reads in an error message: 'abc', a list, a mapping, nothing.
std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: return quoted(node.Scalar());
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    default: return "nothing";
  }
}

// ---------------------------------------------------------------------------------------------
// Scalar conversion. Each returns "" on success, or what was expected.

// int64_t or uint64_t from a plain decimal scalar (an optional leading '+').
template <typename Int>
std::string to_integer(const YAML::Node& node, Int* out) {
  constexpr bool is_signed = std::is_signed_v<Int>;
  if (node.IsScalar()) {
    std::string text = node.Scalar();
    if (!text.empty() && text[0] == '+') text.erase(0, 1);
    const char* begin = text.data();
    const char* end = begin + text.size();
    const auto [ptr, ec] = std::from_chars(begin, end, *out);
    if (ec == std::errc() && ptr == end && !text.empty()) return "";
    if (is_signed && ec == std::errc::result_out_of_range) return "an integer in 64-bit range";
  }
  return is_signed ? "an integer" : "a non-negative integer below 2^64";
}

std::string to_double(const YAML::Node& node, double* out) {
  if (node.IsScalar()) {
    const std::string& text = node.Scalar();
    // strtod would also take hex floats, inf and nan; none belongs in a config.
    const bool plain = !text.empty() && text.find_first_of("xXiInN") == std::string::npos;
    if (plain) {
      char* end = nullptr;
      errno = 0;
      const double value = std::strtod(text.c_str(), &end);
      if (end == text.c_str() + text.size() && errno == 0 && std::isfinite(value)) {
        *out = value;
        return "";
      }
    }
  }
  return "a number";
}

std::string to_bool(const YAML::Node& node, bool* out) {
  if (node.IsScalar()) {
    std::string text = node.Scalar();
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    if (text == "true" || text == "yes" || text == "on") {
      *out = true;
      return "";
    }
    if (text == "false" || text == "no" || text == "off") {
      *out = false;
      return "";
    }
  }
  return "true or false";
}

// A key with no value (`test:`) reads as the empty string.
std::string to_string(const YAML::Node& node, std::string* out) {
  if (node.IsNull()) {
    out->clear();
    return "";
  }
  if (node.IsScalar()) {
    *out = node.Scalar();
    return "";
  }
  return "a string";
}

// ---------------------------------------------------------------------------------------------
// The document after walking: each key that was given, with where it was given.

struct Entry {
  YAML::Node value;
  std::string where;      // "file:line" or "--set path=value"
  bool from_file = true;  // list elements carry their own line only when read from the file
};

class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  void read_document(const std::string& text) {
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      throw ConfigError(at(e.mark, /*with_column=*/true) + ": " + e.msg);
    }
    if (root.IsNull()) return;  // an empty file: all defaults
    if (!root.IsMap()) {
      tainted_.insert("");
      error(at(root.Mark()) + ": expected a mapping of sections (" +
            joined(sections_of(""), ", ") + "), got " + describe(root));
      return;
    }
    walk(root, "");
  }

  void apply_override(const std::string& assignment) {
    const std::string where = "--set " + assignment;
    const auto eq = assignment.find('=');
    if (eq == std::string::npos) {
      error(where + ": expected section.key=value");
      return;
    }
    std::string path = trimmed(assignment.substr(0, eq));
    const std::string text = assignment.substr(eq + 1);
    if (path.empty()) {
      error(where + ": expected section.key=value");
      return;
    }
    // Check the path one part at a time so the did-you-mean names the first wrong part.
    const Schema& s = schema();
    std::string prefix;
    size_t start = 0;
    while (true) {
      const auto dot = path.find('.', start);
      const std::string part = path.substr(start, dot == std::string::npos ? dot : dot - start);
      const std::string current = join_path(prefix, part);
      if (part.empty() || (!s.leaves.count(current) && !s.sections.count(current))) {
        error(current + " (" + where + "): " + unknown_key_message(current));
        taint_for_unknown(current);
        return;
      }
      if (dot == std::string::npos) {
        if (!s.leaves.count(current)) {
          error(current + " (" + where + "): is a section; set one of its keys, e.g. " +
                s.children.at(current).front() + "=...");
          return;
        }
        break;
      }
      if (s.leaves.count(current)) {
        error(path + " (" + where + "): " + quoted(current) + " is a key, not a section");
        return;
      }
      prefix = current;
      start = dot + 1;
    }
    YAML::Node value;
    try {
      value = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      error(path + " (" + where + "): cannot parse value " + quoted(text) + ": " + e.msg);
      failed_.insert(path);
      return;
    }
    entries_[path] = Entry{value, where, /*from_file=*/false};
  }

  // Fills `config` from the entries, recording a type error for each value that does not fit.
  void fill(Config& config) {
    for (const auto& field : fields_of(config)) {
      const auto it = entries_.find(field.path);
      if (it == entries_.end()) continue;
      const Entry& entry = it->second;
      std::string expected;
      std::visit([&](auto* target) { expected = convert(entry, field.path, target); },
                 field.ref);
      if (!expected.empty()) {
        failed_.insert(field.path);
        if (expected != "-")  // list conversions report their own errors
          error(std::string(field.path) + " (" + entry.where + "): expected " + expected + ", got " +
                describe(entry.value));
      }
    }
  }

  // Where `path` was set, or the source alone for a key left at its default.
  std::string where(const std::string& path) const {
    const auto it = entries_.find(path);
    return it == entries_.end() ? source_ : it->second.where;
  }
  // The location of the first of `paths` that was set explicitly.
  std::string where_any(std::initializer_list<const char*> paths) const {
    for (const char* path : paths)
      if (entries_.count(path)) return where(path);
    return source_;
  }
  bool is_set(const std::string& path) const { return entries_.count(path) > 0; }
  // Both parsed (or defaulted) without a type error, so value checks on them make sense.
  // A key left unset inside a section with a structural error (say a misspelt key) may be
  // unset only because of that error; checks on it would add noise, so they are skipped.
  bool usable(std::initializer_list<const char*> paths) const {
    for (const char* path : paths) {
      if (failed_.count(path)) return false;
      if (entries_.count(path)) continue;
      for (std::string section = parent_of(path);; section = parent_of(section)) {
        if (tainted_.count(section)) return false;
        if (section.empty()) break;
      }
    }
    return true;
  }
  std::string element_where(const std::string& path, size_t index) const {
    const auto it = entries_.find(path);
    if (it == entries_.end()) return source_;
    const Entry& entry = it->second;
    if (entry.from_file) {
      const auto mark = entry.value[index].Mark();
      if (mark.line >= 0) return at(mark);
    }
    return entry.where;
  }

  void error(std::string message) { errors_.push_back(std::move(message)); }
  void key_error(const std::string& path, const std::string& where, const std::string& message) {
    error(path + " (" + where + "): " + message);
  }
  // Reports at where(path).
  void key_error(const std::string& path, const std::string& message) {
    key_error(path, where(path), message);
  }

  void throw_if_errors() const {
    if (errors_.empty()) return;
    std::string message = errors_.front();
    if (errors_.size() > 1) {
      message = std::to_string(errors_.size()) + " config errors:";
      for (const auto& e : errors_) message += "\n  " + e;
    }
    throw ConfigError(message);
  }

 private:
  static std::string trimmed(const std::string& s) {
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string::npos) return "";
    const auto last = s.find_last_not_of(" \t");
    return s.substr(first, last - first + 1);
  }

  static std::vector<std::string> sections_of(const std::string& section) {
    std::vector<std::string> names;
    for (const auto& child : schema().children.at(section)) names.push_back(last_part(child));
    return names;
  }

  std::string at(const YAML::Mark& mark, bool with_column = false) const {
    if (mark.line < 0) return source_;
    std::string out = source_ + ":" + std::to_string(mark.line + 1);
    if (with_column) out += ":" + std::to_string(mark.column + 1);
    return out;
  }

  // An unknown key probably misspells a known one: taint the section it would belong to.
  void taint_for_unknown(const std::string& path) {
    const std::string suggestion = suggestion_for(path);
    if (!suggestion.empty()) {
      tainted_.insert(schema().leaves.count(suggestion) ? parent_of(suggestion) : suggestion);
    } else if (!parent_of(path).empty()) {
      tainted_.insert(parent_of(path));
    }
  }

  void walk(const YAML::Node& map, const std::string& prefix) {
    const Schema& s = schema();
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node& key_node = it->first;
      const YAML::Node& value = it->second;
      const std::string where = at(key_node.Mark());
      if (!key_node.IsScalar()) {
        error(where + ": expected a key name in " + (prefix.empty() ? "the document" : prefix) +
              ", got " + describe(key_node));
        tainted_.insert(prefix);
        continue;
      }
      const std::string path = join_path(prefix, key_node.Scalar());
      if (s.leaves.count(path)) {
        const auto seen = entries_.find(path);
        if (seen != entries_.end()) {
          key_error(path, where, "duplicate key (first given at " + seen->second.where + ")");
          continue;
        }
        entries_[path] = Entry{value, where, /*from_file=*/true};
      } else if (s.sections.count(path)) {
        const auto seen = seen_sections_.find(path);
        if (seen != seen_sections_.end()) {
          key_error(path, where, "duplicate section (first given at " + seen->second + ")");
          continue;
        }
        seen_sections_[path] = where;
        if (value.IsNull()) continue;  // `train:` with nothing under it
        if (!value.IsMap()) {
          tainted_.insert(path);
          key_error(path, where, "expected a mapping of keys (" +
                                     joined(sections_of(path), ", ") + "), got " +
                                     describe(value));
          continue;
        }
        walk(value, path);
      } else {
        key_error(path, where, unknown_key_message(path));
        taint_for_unknown(path);
      }
    }
  }

  template <typename T>
  std::string convert(const Entry& entry, const std::string& /*path*/, T* target) {
    if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, uint64_t>)
      return to_integer(entry.value, target);
    if constexpr (std::is_same_v<T, double>) return to_double(entry.value, target);
    if constexpr (std::is_same_v<T, bool>) return to_bool(entry.value, target);
    if constexpr (std::is_same_v<T, std::string>) return to_string(entry.value, target);
    return "";
  }

  template <typename E>
  std::string convert(const Entry& entry, const std::string& path, std::vector<E>* target) {
    const YAML::Node& node = entry.value;
    if (node.IsNull()) {
      target->clear();
      return "";
    }
    if (!node.IsSequence()) {
      return std::is_same_v<E, int64_t> ? "a list of integers like [0, 1]"
                                        : "a list of strings like [\"abc\", \"de\"]";
    }
    std::vector<E> values;
    bool ok = true;
    for (size_t i = 0; i < node.size(); ++i) {
      E value{};
      const std::string expected = convert(Entry{node[i], "", true}, path, &value);
      if (!expected.empty()) {
        key_error(path + "[" + std::to_string(i) + "]", element_where(path, i),
                  "expected " + expected + ", got " + describe(node[i]));
        ok = false;
        continue;
      }
      values.push_back(value);
    }
    if (!ok) return "-";
    *target = std::move(values);
    return "";
  }

  std::string source_;
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> seen_sections_;
  std::set<std::string> failed_;   // keys whose value did not convert
  std::set<std::string> tainted_;  // sections with a structural error ("" = the whole file)
  std::vector<std::string> errors_;
};

// ---------------------------------------------------------------------------------------------
// Value checks, after every given key has been read.

class Checker {
 public:
  Checker(Reader& reader, const Config& config) : r_(reader), c_(config) {}

  void run() {
    check_run();
    check_data();
    check_model();
    check_train();
    check_log();
  }

 private:
  template <typename T>
  static std::string str(T value) {
    if constexpr (std::is_floating_point_v<T>) {
      char buffer[32];
      std::snprintf(buffer, sizeof(buffer), "%g", value);
      return buffer;
    } else {
      return std::to_string(value);
    }
  }

  void positive(const char* path, int64_t value) {
    if (r_.usable({path}) && value <= 0) r_.key_error(path, "must be > 0, got " + str(value));
  }
  void non_negative(const char* path, int64_t value) {
    if (r_.usable({path}) && value < 0) r_.key_error(path, "must be >= 0, got " + str(value));
  }
  void positive(const char* path, double value) {
    if (r_.usable({path}) && !(value > 0)) r_.key_error(path, "must be > 0, got " + str(value));
  }
  void non_negative(const char* path, double value) {
    if (r_.usable({path}) && value < 0) r_.key_error(path, "must be >= 0, got " + str(value));
  }
  // value in [0, 1) or, with closed_top, [0, 1].
  void unit(const char* path, double value, bool closed_top = false) {
    if (!r_.usable({path})) return;
    const bool ok = value >= 0 && (closed_top ? value <= 1 : value < 1);
    if (!ok)
      r_.key_error(path, std::string("must be in [0, 1") + (closed_top ? "]" : ")") + ", got " +
                             str(value));
  }
  void one_of(const char* path, const std::string& value, const std::vector<std::string>& allowed) {
    if (!r_.usable({path})) return;
    if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return;
    std::string message = quoted(value) + " is not one of " + joined(allowed, "|");
    // One edit only: "fp16" is not a typo of "fp32".
    const std::string near = closest(value, allowed, /*max_distance=*/1);
    if (!near.empty()) message += "; did you mean " + quoted(near) + "?";
    r_.key_error(path, message);
  }
  void not_empty(const char* path, const std::string& value, const char* what) {
    if (r_.usable({path}) && value.empty()) r_.key_error(path, what);
  }

  void check_run() {
    not_empty("run.name", c_.run.name, "must not be empty");
    if (r_.usable({"run.name"}) &&
        (c_.run.name.find('/') != std::string::npos || c_.run.name == "." || c_.run.name == ".."))
      r_.key_error("run.name", quoted(c_.run.name) + " must be a plain directory name");
    not_empty("run.out_dir", c_.run.out_dir, "must not be empty");
    non_negative("run.threads", c_.run.threads);
  }

  void check_data() {
    one_of("data.task", c_.data.task, {"transduction", "classification"});
    not_empty("data.train", c_.data.train, "is required (path of the training TSV)");
    not_empty("data.valid", c_.data.valid, "is required (path of the validation TSV)");
    one_of("data.tokenization", c_.data.tokenization, {"char", "word"});
    positive("data.max_len", c_.data.max_len);
  }

  void check_model() {
    const auto& m = c_.model;
    positive("model.d_model", m.d_model);
    positive("model.num_heads", m.num_heads);
    positive("model.num_layers", m.num_layers);
    positive("model.d_ff", m.d_ff);
    unit("model.dropout", m.dropout);
    unit("model.attention_dropout", m.attention_dropout);
    one_of("model.norm", m.norm, {"pre", "post"});
    one_of("model.activation", m.activation, {"gelu", "relu"});
    one_of("model.positions", m.positions, {"sinusoidal", "learned"});
    one_of("model.pooling", m.pooling, {"cls", "mean"});
    if (r_.usable({"model.d_model", "model.num_heads"}) && m.d_model > 0 && m.num_heads > 0 &&
        m.d_model % m.num_heads != 0) {
      r_.key_error("model.num_heads", r_.where_any({"model.num_heads", "model.d_model"}),
                   str(m.num_heads) + " does not divide model.d_model=" + str(m.d_model));
    }
  }

  void check_train() {
    const auto& t = c_.train;
    positive("train.batch_size", t.batch_size);
    non_negative("train.max_steps", t.max_steps);
    non_negative("train.max_epochs", t.max_epochs);
    if (r_.usable({"train.max_steps", "train.max_epochs"})) {
      if (t.max_steps == 0 && t.max_epochs == 0) {
        r_.key_error("train.max_steps", r_.where_any({"train.max_steps", "train.max_epochs"}),
                     "neither train.max_steps nor train.max_epochs is set; set exactly one of "
                     "them to a positive value");
      } else if (t.max_steps > 0 && t.max_epochs > 0) {
        r_.key_error("train.max_epochs", r_.where_any({"train.max_epochs", "train.max_steps"}),
                     "both train.max_steps=" + str(t.max_steps) + " and train.max_epochs=" +
                         str(t.max_epochs) + " are set; set exactly one (the other to 0)");
      }
    }
    positive("train.lr", t.lr);
    unit("train.beta1", t.beta1);
    unit("train.beta2", t.beta2);
    positive("train.eps", t.eps);
    non_negative("train.weight_decay", t.weight_decay);
    one_of("train.schedule", t.schedule, {"cosine", "linear", "inverse_sqrt", "constant"});
    non_negative("train.warmup_steps", t.warmup_steps);
    if (r_.usable({"train.warmup_steps", "train.max_steps"}) && t.max_steps > 0 &&
        t.warmup_steps >= t.max_steps) {
      r_.key_error("train.warmup_steps", r_.where_any({"train.warmup_steps", "train.max_steps"}),
                   str(t.warmup_steps) + " must be < train.max_steps=" + str(t.max_steps));
    }
    unit("train.min_lr_ratio", t.min_lr_ratio, /*closed_top=*/true);
    non_negative("train.grad_clip", t.grad_clip);
    unit("train.label_smoothing", t.label_smoothing);
    one_of("train.precision", t.precision, {"fp32", "bf16"});
    non_negative("train.bucket_batches", t.bucket_batches);
    positive("train.eval_interval", t.eval_interval);
    positive("train.checkpoint_interval", t.checkpoint_interval);
    non_negative("train.keep_last", t.keep_last);
    one_of("train.best_metric", t.best_metric, {"auto", "loss", "accuracy", "exact_match"});
    if (r_.usable({"train.best_metric", "data.task"}) && t.best_metric == "exact_match" &&
        c_.data.task != "transduction") {
      r_.key_error("train.best_metric", r_.where_any({"train.best_metric", "data.task"}),
                   "exact_match needs data.task=transduction, got data.task=" + c_.data.task);
    }
    non_negative("train.early_stopping_patience", t.early_stopping_patience);
    non_negative("train.stop_at", t.stop_at);
    positive("train.max_nonfinite_steps", t.max_nonfinite_steps);
  }

  void check_indices(const char* path, const std::vector<int64_t>& values, int64_t bound,
                     const char* bound_name) {
    if (!r_.usable({path})) return;
    for (size_t i = 0; i < values.size(); ++i) {
      const std::string element = std::string(path) + "[" + std::to_string(i) + "]";
      if (values[i] < 0) {
        r_.key_error(element, r_.element_where(path, i),
                     "must be >= 0, got " + str(values[i]));
      } else if (bound > 0 && values[i] >= bound) {
        r_.key_error(element, r_.element_where(path, i),
                     str(values[i]) + " is out of range for " + bound_name + "=" + str(bound));
      }
    }
  }

  void check_log() {
    const auto& a = c_.log.attention;
    positive("log.interval", c_.log.interval);
    non_negative("log.attention.num_examples", a.num_examples);
    if (r_.usable({"log.attention.enabled", "log.attention.num_examples",
                   "log.attention.examples"}) &&
        a.enabled && a.num_examples == 0 && a.examples.empty()) {
      r_.key_error("log.attention.num_examples",
                   r_.where_any({"log.attention.num_examples", "log.attention.enabled"}),
                   "attention logging is enabled but has no probe examples; set "
                   "log.attention.num_examples > 0 or list log.attention.examples");
    }
    positive("log.attention.every", a.every);
    check_indices("log.attention.layers", a.layers,
                  r_.usable({"model.num_layers"}) ? c_.model.num_layers : 0, "model.num_layers");
    check_indices("log.attention.heads", a.heads,
                  r_.usable({"model.num_heads"}) ? c_.model.num_heads : 0, "model.num_heads");
  }

  Reader& r_;
  const Config& c_;
};

Config parse(const std::string& text, const std::string& source,
             const std::vector<std::string>& overrides) {
  Reader reader(source);
  reader.read_document(text);
  for (const auto& assignment : overrides) reader.apply_override(assignment);
  Config config;
  reader.fill(config);
  Checker(reader, config).run();
  reader.throw_if_errors();
  return config;
}

// Runs `body`, turning anything it throws into a ConfigError.
template <typename F>
auto guarded(const std::string& source, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const ConfigError&) {
    throw;
  } catch (const YAML::Exception& e) {
    throw ConfigError(source + ": " + e.what());
  } catch (const std::exception& e) {
    throw ConfigError(source + ": " + e.what());
  }
}

// ---------------------------------------------------------------------------------------------
// Writing.

// Shortest decimal form that reads back as the same double; always looks like a float.
std::string format_double(double value) {
  char buffer[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  std::string out = buffer;
  if (out.find_first_of(".eE") == std::string::npos) out += ".0";
  return out;
}

// Plain when it reads back as the same string, double-quoted otherwise.
std::string format_string(const std::string& value) {
  const bool plain =
      !value.empty() && value != "null" && value != "Null" && value != "NULL" &&
      (std::isalnum(static_cast<unsigned char>(value[0])) || value[0] == '_' ||
       value[0] == '.' || value[0] == '/') &&
      std::all_of(value.begin(), value.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' ||
               ch == '/' || ch == '-';
      });
  if (plain) return value;
  std::string out = "\"";
  for (const char ch : value) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\x%02x", static_cast<unsigned char>(ch));
          out += escaped;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

struct ValueWriter {
  std::string operator()(const int64_t* v) const { return std::to_string(*v); }
  std::string operator()(const uint64_t* v) const { return std::to_string(*v); }
  std::string operator()(const double* v) const { return format_double(*v); }
  std::string operator()(const bool* v) const { return *v ? "true" : "false"; }
  std::string operator()(const std::string* v) const { return format_string(*v); }
  std::string operator()(const std::vector<std::string>* v) const {
    std::vector<std::string> items;
    for (const auto& s : *v) items.push_back(format_string(s));
    return "[" + joined(items, ", ") + "]";
  }
  std::string operator()(const std::vector<int64_t>* v) const {
    std::vector<std::string> items;
    for (const auto i : *v) items.push_back(std::to_string(i));
    return "[" + joined(items, ", ") + "]";
  }
};

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream stream(path);
  for (std::string part; std::getline(stream, part, '.');) parts.push_back(part);
  return parts;
}

// Makes a relative path absolute against `base`; "" and absolute paths stay.
void resolve(std::string& path, const fs::path& base) {
  if (path.empty() || fs::path(path).is_absolute()) return;
  path = (base / path).lexically_normal().string();
}

}  // namespace

Config parse_config(const std::string& yaml_text, const std::string& source_name,
                    const std::vector<std::string>& overrides) {
  const std::string source = source_name.empty() ? "<string>" : source_name;
  return guarded(source, [&] {
    Config config = parse(yaml_text, source, overrides);
    config.source = source_name;
    return config;
  });
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  return guarded(path, [&] {
    std::error_code ec;
    if (fs::is_directory(path, ec))
      throw ConfigError("cannot read config file " + path + ": is a directory");
    errno = 0;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      const int error = errno;
      throw ConfigError("cannot read config file " + path + ": " +
                        (error ? std::strerror(error) : "cannot open"));
    }
    std::stringstream text;
    text << in.rdbuf();
    if (in.bad()) throw ConfigError("cannot read config file " + path + ": read failed");

    Config config = parse(text.str(), path, overrides);
    config.source = path;
    const fs::path base = fs::absolute(fs::path(path)).parent_path();
    resolve(config.data.train, base);
    resolve(config.data.valid, base);
    resolve(config.data.test, base);
    resolve(config.run.out_dir, base);
    return config;
  });
}

std::string to_yaml(const Config& config) {
  Config copy = config;  // fields_of wants mutable members; nothing is written
  std::string out;
  std::vector<std::string> open;  // sections of the previous key
  for (const auto& field : fields_of(copy)) {
    std::vector<std::string> parts = split_path(field.path);
    const std::string key = parts.back();
    parts.pop_back();
    size_t common = 0;
    while (common < open.size() && common < parts.size() && open[common] == parts[common])
      ++common;
    for (size_t depth = common; depth < parts.size(); ++depth)
      out += std::string(2 * depth, ' ') + parts[depth] + ":\n";
    open = parts;
    out += std::string(2 * parts.size(), ' ') + key + ": " +
           std::visit([](auto* value) { return ValueWriter{}(value); }, field.ref) + "\n";
  }
  return out;
}

}  // namespace attnlab
