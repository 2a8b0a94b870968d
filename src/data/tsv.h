#pragma once
// Tab-separated example files: one example per line, `source<TAB>target`, UTF-8.
// For transduction the target is the output sequence; for classification it is the label.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace attnlab {

// Any problem with a data file or its contents. The message starts with "path:line: " (or
// "path: " for problems with the whole file), so it can be printed as is.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Example {
  std::string source;  // input text (non-empty, no TAB or newline)
  std::string target;  // output text or class label (non-empty, no TAB or newline)
  int64_t line = 0;    // 1-based line in the file it came from; 0 if not from a file
};

// Reads a strict TSV file: exactly one TAB per line, both fields non-empty, valid UTF-8.
// A trailing '\r' (CRLF files) and a leading UTF-8 byte order mark are dropped; empty lines
// are skipped but still counted for line numbers. Throws DataError on any violation, on a
// file that cannot be read, and on a file without examples ("path: no examples").
std::vector<Example> read_tsv(const std::string& path);

// The same rules on the bytes of a file already read; `path` only names it in errors.
std::vector<Example> parse_tsv(const std::string& content, const std::string& path);

// Writes examples as `source<TAB>target\n` lines. Throws DataError for a field that is empty
// or holds a TAB, '\r' or '\n' (it could not be read back), or when the file can't be written.
void write_tsv(const std::string& path, const std::vector<Example>& examples);

// Byte offset of the first invalid UTF-8 sequence in text, or -1 if it is all valid.
// Overlong forms, surrogates and code points above U+10FFFF are invalid.
int64_t find_invalid_utf8(const std::string& text);

}  // namespace attnlab
