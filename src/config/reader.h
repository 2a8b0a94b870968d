#pragma once
// Reading a config: the YAML document and the --set overrides are walked against the schema
// (unknown keys get a did-you-mean), each given value is converted into its Config field, and
// every error is collected with the file:line or --set it came from, so one run reports them
// all. Internal to src/config/; the only place besides reader.cpp that sees yaml-cpp.

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "config/config.h"
#include "config/enums.h"
#include "config/schema.h"

namespace attnlab::config_detail {

// How a node reads in an error message: 'abc', a list, a mapping, nothing.
std::string describe(const YAML::Node& node);

// Scalar conversions: each returns "" on success, or what was expected ("an integer").
std::string to_integer(const YAML::Node& node, int64_t* out);
std::string to_integer(const YAML::Node& node, uint64_t* out);
std::string to_double(const YAML::Node& node, double* out);
std::string to_bool(const YAML::Node& node, bool* out);
std::string to_string(const YAML::Node& node, std::string* out);  // a key with no value is ""

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
      error(at(root.Mark()) + ": expected a mapping of sections (" + joined(sections_of(""), ", ") +
            "), got " + describe(root));
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
      std::visit([&](auto* target) { expected = convert(entry, field.path, target); }, field.ref);
      if (!expected.empty()) {
        failed_.insert(field.path);
        if (expected != "-")  // list conversions report their own errors
          error(std::string(field.path) + " (" + entry.where + "): expected " + expected +
                ", got " + describe(entry.value));
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

  // The text of an enum-valued key whose name is not in its table, or nullopt.
  std::optional<std::string> rejected_name(const std::string& path) const {
    const auto it = rejected_names_.find(path);
    if (it == rejected_names_.end()) return std::nullopt;
    return it->second;
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
      // Copies, not references: yaml-cpp's iterator-> returns a temporary proxy, so a reference
      // to its first/second dangles at the end of this statement (ASan: stack-use-after-scope,
      // found by fuzz/config_fuzzer.cpp; GCC 12 warned of it with -Wdangling-pointer). A Node is
      // a handle, cheap to copy.
      const YAML::Node key_node = it->first;
      const YAML::Node value = it->second;
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
          key_error(path, where,
                    "expected a mapping of keys (" + joined(sections_of(path), ", ") + "), got " +
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
  std::string convert(const Entry& entry, const std::string& path, T* target) {
    if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, uint64_t>)
      return to_integer(entry.value, target);
    if constexpr (std::is_same_v<T, double>) return to_double(entry.value, target);
    if constexpr (std::is_same_v<T, bool>) return to_bool(entry.value, target);
    if constexpr (std::is_same_v<T, std::string>) return to_string(entry.value, target);
    if constexpr (std::is_enum_v<T>) {
      // A name outside the table is reported by the checks, in their order, with a did-you-mean.
      const YAML::Node& node = entry.value;
      if (!node.IsNull() && !node.IsScalar()) return "one of " + joined(enum_names<T>(), "|");
      const std::string text = node.IsNull() ? std::string() : node.Scalar();
      if (const auto value = enum_from_name<T>(text)) {
        *target = *value;
        return "";
      }
      rejected_names_[path] = text;
      return "-";
    }
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
  std::set<std::string> failed_;                       // keys whose value did not convert
  std::map<std::string, std::string> rejected_names_;  // enum keys given an unknown name
  std::set<std::string> tainted_;  // sections with a structural error ("" = the whole file)
  std::vector<std::string> errors_;
};

}  // namespace attnlab::config_detail
