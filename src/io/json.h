#pragma once
// A tiny JSON object writer for metrics.jsonl and --json outputs (flat objects, numbers,
// strings, booleans, and pre-rendered JSON values).

#include <cstdint>
#include <string>
#include <vector>

namespace attnlab {

std::string json_string(const std::string& s);  // quoted and escaped
std::string json_number(double v);              // NaN/Inf become null
std::string join(const std::vector<std::string>& items, const std::string& sep);

class JsonWriter {
 public:
  JsonWriter& field(const std::string& key, const std::string& value);
  JsonWriter& field(const std::string& key, const char* value);
  JsonWriter& field(const std::string& key, double value);
  JsonWriter& field(const std::string& key, int64_t value);
  JsonWriter& field(const std::string& key, int value) { return field(key, int64_t{value}); }
  JsonWriter& field(const std::string& key, bool value);
  JsonWriter& raw(const std::string& key, const std::string& json);  // value already JSON
  std::string str() const;                                           // {"k": v, ...}

 private:
  std::vector<std::string> parts_;
};

}  // namespace attnlab
