#pragma once
// State files that a crash must never leave half-written.

#include <string>

namespace mupgrade::core {

/// Writes a file atomically: temp file in the same dir, fsync, rename, fsync of the dir.
void write_file_atomically(const std::string& path, const std::string& content, unsigned mode = 0644);

}  // namespace mupgrade::core
