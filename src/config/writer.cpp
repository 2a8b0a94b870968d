// to_yaml: the whole resolved config, every key, in schema order, each value in the shortest
// form that reads back as the same value.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "config/config.h"
#include "config/schema.h"

namespace attnlab {
namespace {

using namespace config_detail;

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
  const bool plain = !value.empty() && value != "null" && value != "Null" && value != "NULL" &&
                     (std::isalnum(static_cast<unsigned char>(value[0])) || value[0] == '_' ||
                      value[0] == '.' || value[0] == '/') &&
                     std::all_of(value.begin(), value.end(), [](char ch) {
                       return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' ||
                              ch == '.' || ch == '/' || ch == '-';
                     });
  if (plain) return value;
  std::string out = "\"";
  for (const char ch : value) {
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
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
  template <typename E, typename = std::enable_if_t<std::is_enum_v<E>>>
  std::string operator()(const E* v) const {
    return format_string(name_of(*v));
  }
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

}  // namespace

std::string to_yaml(const Config& config) {
  Config copy = config;  // fields_of wants mutable members; nothing is written
  std::string out;
  std::vector<std::string> open;  // sections of the previous key
  for (const auto& field : fields_of(copy)) {
    std::vector<std::string> parts = split_path(field.path);
    const std::string key = parts.back();
    parts.pop_back();
    size_t common = 0;
    while (common < open.size() && common < parts.size() && open[common] == parts[common]) ++common;
    for (size_t depth = common; depth < parts.size(); ++depth)
      out += std::string(2 * depth, ' ') + parts[depth] + ":\n";
    open = parts;
    out += std::string(2 * parts.size(), ' ') + key + ": " +
           std::visit([](auto* value) { return ValueWriter{}(value); }, field.ref) + "\n";
  }
  return out;
}

}  // namespace attnlab
