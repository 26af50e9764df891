#pragma once
// mupgrade's own state files (under the state dir): written so a crash never leaves them
// half-written, read and listed by the operations.

#include <optional>
#include <string>
#include <vector>

namespace mupgrade::core {

/// Writes a file atomically: temp file in the same dir, fsync, rename, fsync of the dir.
void write_file_atomically(const std::string& path, const std::string& content, unsigned mode = 0644);

/// The whole file, nullopt when it cannot be read.
std::optional<std::string> read_state_file(const std::string& path);
/// Creates the directory (and its parents) when missing.
void ensure_state_dir(const std::string& path, unsigned mode = 0755);
/// Full paths of the files in `dir` whose names end with `suffix`, sorted by name, newest
/// (largest UTC-time prefix) first.
std::vector<std::string> state_files(const std::string& dir, const std::string& suffix);
/// Removes a state file; nothing when it is missing.
void remove_state_file(const std::string& path);
/// A state dir and everything in it (a failed `init` leaves none behind); nothing when missing.
void remove_state_dir(const std::string& path);
/// A new empty 0700 dir under the system's temp dir, for state nobody keeps (remove_state_dir it).
std::string make_scratch_state_dir(const std::string& prefix);

}  // namespace mupgrade::core
