#pragma once
// Writing a file so that a crash, a full disk or a signal at any moment leaves either the old
// file or the new one at its path, never a torn one.

#include <string>
#include <vector>

namespace attnlab {

// Writes `bytes` to a temporary file in the same directory (".<name>.tmp.<pid>"), fsyncs and
// closes it, renames it over `path`, and fsyncs the directory. Throws std::runtime_error naming
// the file and the system error; before the rename the temporary file is removed, after it (the
// directory could not be flushed) the new file stays in place and the message says so.
void write_file_atomically(const std::string& path, const std::vector<char>& bytes);

// Removes the temporary files ".<name>.tmp.<pid>" that write_file_atomically left in `directory`
// (not its subfolders) when its process was killed in the middle of a save, but only those whose
// pid no longer runs, or is this process's own (a pid reused after a restart: this process has
// no save under way when it calls this). Returns the paths it removed; a file it cannot remove
// is left and not reported. Call it while holding the directory's DirectoryLock, so that no
// other attnlab process can be saving into it.
std::vector<std::string> remove_stale_temporary_files(const std::string& directory);

}  // namespace attnlab
