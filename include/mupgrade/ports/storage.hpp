#pragma once
// Port: the btrfs pool and the files of the sets' data (code, moodledata) as the operations
// use them. Subvolume calls are libbtrfsutil underneath; file calls are the host filesystem.
// mupgrade's own state dir (journal, lock, site.json, reports) is core's business, not this port's.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mupgrade::ports {

struct SpaceInfo {
  std::uint64_t total_bytes = 0;
  std::uint64_t free_bytes = 0;  // available to an unprivileged writer
};

/// What a tree occupies on the filesystem, from its extents (what `btrfs filesystem du` shows).
struct DiskUsage {
  std::uint64_t exclusive_bytes = 0;  // extents nothing outside the tree references: what deleting it frees
  std::uint64_t distinct_bytes = 0;   // every extent once, shared ones too
};

/// Owner and permission bits of a file.
struct FileMode {
  unsigned uid = 0;
  unsigned gid = 0;
  unsigned mode = 0644;
};

class Storage {
public:
  virtual ~Storage() = default;
  virtual bool is_btrfs(const std::string& path) = 0;
  /// False for plain directories and missing paths.
  virtual bool is_subvolume(const std::string& path) = 0;
  virtual void create_subvolume(const std::string& path) = 0;
  /// Copy-on-write snapshot; constant time when the source has no dirty page-cache data.
  virtual void snapshot(const std::string& source, const std::string& dest) = 0;
  /// Deletes a subvolume and every subvolume below it.
  virtual void delete_subvolume(const std::string& path) = 0;
  /// Writes out dirty data and commits the filesystem holding `path`.
  virtual void sync(const std::string& path) = 0;
  virtual SpaceInfo space(const std::string& path) = 0;
  /// The kind of filesystem holding `path` ("btrfs", "ext4", "nfs", "cifs", ...; "" unknown).
  virtual std::string filesystem_type(const std::string& path) = 0;
  /// When the subvolume was made.
  virtual std::chrono::system_clock::time_point created(const std::string& subvolume) = 0;
  /// The subvolume's generation: the last committed transaction that changed it (a change
  /// made since the last sync moves it only once committed).
  virtual std::uint64_t generation(const std::string& subvolume) = 0;
  /// Bytes of the files under `path` (an upper bound of what removing it frees: extents
  /// shared with snapshots make it less).
  virtual std::uint64_t tree_bytes(const std::string& path) = 0;
  /// Extents of the files under `path` (subvolumes below it too): reads every file's extent
  /// map, so it costs a walk of the tree.
  virtual DiskUsage disk_usage(const std::string& path) = 0;
  /// A hex digest of every path, size and modification time under `path` except `except` (a
  /// path relative to it): equal digests mean the same files, unchanged. A walk of stat calls.
  virtual std::string tree_fingerprint(const std::string& path, const std::string& except) = 0;

  virtual bool exists(const std::string& path) = 0;
  virtual bool is_directory(const std::string& path) = 0;
  /// Names of the entries of a directory; empty when it does not exist.
  virtual std::vector<std::string> list_dir(const std::string& path) = 0;
  /// Seconds since the path was last modified.
  virtual double age_seconds(const std::string& path) = 0;
  virtual std::optional<std::string> read_file(const std::string& path) = 0;
  /// Writes the whole file under a temporary name, gives it `mode`, then renames it into place.
  virtual void write_file(const std::string& path, const std::string& content, const FileMode& mode) = 0;
  virtual std::optional<FileMode> file_mode(const std::string& path) = 0;
  /// Gives an existing file or directory an owner, group and permission bits.
  virtual void set_mode(const std::string& path, const FileMode& mode) = 0;
  virtual void make_dirs(const std::string& path) = 0;
  /// A file or an empty directory; nothing when missing.
  virtual void remove(const std::string& path) = 0;
  /// A directory and everything in it, or a lone file or symlink; nothing when missing (never
  /// across a subvolume: delete those first).
  virtual void remove_tree(const std::string& path) = 0;
  virtual void rename(const std::string& from, const std::string& to) = 0;
};

}  // namespace mupgrade::ports
