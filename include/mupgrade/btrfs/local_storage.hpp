#pragma once
// The storage port on this host: subvolumes through libbtrfsutil (src/btrfs/btrfs.cpp), files
// through the host filesystem.

#include "mupgrade/ports/storage.hpp"

namespace mupgrade::btrfs {

class LocalStorage : public ports::Storage {
public:
  bool is_btrfs(const std::string& path) override;
  bool is_subvolume(const std::string& path) override;
  void create_subvolume(const std::string& path) override;
  void snapshot(const std::string& source, const std::string& dest) override;
  void delete_subvolume(const std::string& path) override;
  void sync(const std::string& path) override;
  ports::SpaceInfo space(const std::string& path) override;
  std::string filesystem_type(const std::string& path) override;
  std::chrono::system_clock::time_point created(const std::string& subvolume) override;
  std::uint64_t tree_bytes(const std::string& path) override;
  ports::DiskUsage disk_usage(const std::string& path) override;
  std::uint64_t generation(const std::string& subvolume) override;
  std::string tree_fingerprint(const std::string& path, const std::string& except) override;
  bool exists(const std::string& path) override;
  bool is_directory(const std::string& path) override;
  std::vector<std::string> list_dir(const std::string& path) override;
  double age_seconds(const std::string& path) override;
  std::optional<std::string> read_file(const std::string& path) override;
  void write_file(const std::string& path, const std::string& content, const ports::FileMode& mode) override;
  std::optional<ports::FileMode> file_mode(const std::string& path) override;
  void set_mode(const std::string& path, const ports::FileMode& mode) override;
  void make_dirs(const std::string& path) override;
  void remove(const std::string& path) override;
  void remove_tree(const std::string& path) override;
  void rename(const std::string& from, const std::string& to) override;
};

}  // namespace mupgrade::btrfs
