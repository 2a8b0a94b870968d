#pragma once
// Writing a file so that a crash, a full disk or a signal at any moment leaves either the old
// file or the new one at its path, never a torn one.

#include <string>
#include <vector>

namespace attnlab {

// Writes `bytes` to a temporary file in the same directory (".<name>.tmp.<pid>"), fsyncs it,
// renames it over `path`, and fsyncs the directory. Throws std::runtime_error naming the file
// and the system error; the temporary file is removed on failure.
void write_file_atomically(const std::string& path, const std::vector<char>& bytes);

}  // namespace attnlab
