#include "io/json.h"

#include <cmath>
#include <cstdio>

namespace attnlab {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      // Escaped so the JSON can sit inside an HTML <script> element.
      case '<':
        out += "\\u003c";
        break;
      case '>':
        out += "\\u003e";
        break;
      case '&':
        out += "\\u0026";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.10g", v);
  return buf;
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

JsonWriter& JsonWriter::field(const std::string& key, const std::string& value) {
  return raw(key, json_string(value));
}
JsonWriter& JsonWriter::field(const std::string& key, const char* value) {
  return raw(key, json_string(value));
}
JsonWriter& JsonWriter::field(const std::string& key, double value) {
  return raw(key, json_number(value));
}
JsonWriter& JsonWriter::field(const std::string& key, int64_t value) {
  return raw(key, std::to_string(value));
}
JsonWriter& JsonWriter::field(const std::string& key, bool value) {
  return raw(key, value ? "true" : "false");
}
JsonWriter& JsonWriter::raw(const std::string& key, const std::string& json) {
  parts_.push_back(json_string(key) + ": " + json);
  return *this;
}
std::string JsonWriter::str() const { return "{" + join(parts_, ", ") + "}"; }

}  // namespace attnlab
