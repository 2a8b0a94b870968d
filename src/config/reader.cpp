#include "config/reader.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace attnlab::config_detail {
namespace {

// int64_t or uint64_t from a plain decimal scalar (an optional leading '+').
template <typename Int>
std::string integer_from(const YAML::Node& node, Int* out) {
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

}  // namespace

std::string to_integer(const YAML::Node& node, int64_t* out) { return integer_from(node, out); }
std::string to_integer(const YAML::Node& node, uint64_t* out) { return integer_from(node, out); }

// How a node reads in an error message: 'abc', a list, a mapping, nothing.
std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return quoted(node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "nothing";
  }
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

}  // namespace attnlab::config_detail
