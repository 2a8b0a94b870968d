#include "data/tsv.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace attnlab {
namespace {

DataError line_error(const std::string& path, int64_t line, const std::string& what) {
  return DataError(path + ":" + std::to_string(line) + ": " + what);
}

std::string read_whole_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw DataError(path + ": is a directory, not a TSV file");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    throw DataError(path + ": cannot open file (" + std::string(std::strerror(err)) + ")");
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw DataError(path + ": read error");
  return buffer.str();
}

}  // namespace

int64_t find_invalid_utf8(const std::string& text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return static_cast<int64_t>(i);  // stray continuation byte or 0xF8..0xFF
    }
    if (i + len > n) return static_cast<int64_t>(i);
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return static_cast<int64_t>(i);
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    const uint32_t min_cp = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return static_cast<int64_t>(i);
    }
    i += len;
  }
  return -1;
}

std::vector<Example> read_tsv(const std::string& path) {
  return parse_tsv(read_whole_file(path), path);
}

std::vector<Example> parse_tsv(const std::string& content, const std::string& path) {
  std::vector<Example> examples;
  size_t start = 0;
  int64_t line_no = 0;
  while (start < content.size()) {
    size_t end = content.find('\n', start);
    if (end == std::string::npos) end = content.size();
    std::string line = content.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (line_no == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;

    const int64_t bad = find_invalid_utf8(line);
    if (bad >= 0) {
      throw line_error(path, line_no,
                       "invalid UTF-8 at byte " + std::to_string(bad + 1) + " of the line");
    }
    if (line.find('\r') != std::string::npos) {
      throw line_error(path, line_no, "carriage return inside the line");
    }
    const auto tabs = std::count(line.begin(), line.end(), '\t');
    if (tabs == 0) {
      throw line_error(path, line_no, "no TAB; expected exactly one TAB between source and target");
    }
    if (tabs > 1) {
      throw line_error(
          path, line_no,
          std::to_string(tabs) + " TABs; expected exactly one TAB between source and target");
    }
    const size_t tab = line.find('\t');
    Example example{line.substr(0, tab), line.substr(tab + 1), line_no};
    if (example.source.empty())
      throw line_error(path, line_no, "empty source field (before the TAB)");
    if (example.target.empty())
      throw line_error(path, line_no, "empty target field (after the TAB)");
    examples.push_back(std::move(example));
  }
  if (examples.empty()) throw DataError(path + ": no examples");
  return examples;
}

void write_tsv(const std::string& path, const std::vector<Example>& examples) {
  std::string content;
  for (size_t i = 0; i < examples.size(); ++i) {
    const Example& e = examples[i];
    for (const std::string* field : {&e.source, &e.target}) {
      const char* name = field == &e.source ? "source" : "target";
      if (field->empty() || field->find_first_of("\t\r\n") != std::string::npos) {
        throw DataError(path + ": example " + std::to_string(i + 1) + " has an empty " + name +
                        " or one holding a TAB or line break");
      }
    }
    content += e.source;
    content += '\t';
    content += e.target;
    content += '\n';
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    const int err = errno;
    throw DataError(path + ": cannot write file (" + std::string(std::strerror(err)) + ")");
  }
  out << content;
  out.flush();
  if (!out) throw DataError(path + ": write error");
}

}  // namespace attnlab
