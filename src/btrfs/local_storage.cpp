#include "mupgrade/btrfs/local_storage.hpp"

#include "mupgrade/btrfs/btrfs.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

namespace mupgrade::btrfs {

namespace fs = std::filesystem;

bool LocalStorage::is_btrfs(const std::string& path) { return btrfs::is_btrfs(path); }
bool LocalStorage::is_subvolume(const std::string& path) { return btrfs::is_subvolume(path); }
void LocalStorage::create_subvolume(const std::string& path) { btrfs::create_subvolume(path); }
void LocalStorage::snapshot(const std::string& source, const std::string& dest) { btrfs::snapshot(source, dest); }
void LocalStorage::delete_subvolume(const std::string& path) { btrfs::delete_subvolume(path); }
void LocalStorage::sync(const std::string& path) { btrfs::sync(path); }

ports::SpaceInfo LocalStorage::space(const std::string& path) {
  auto s = btrfs::space(path);
  return {s.total_bytes, s.free_bytes};
}

// statfs(2)'s f_type magic numbers of the filesystems adopt must tell apart (linux/magic.h).
std::string LocalStorage::filesystem_type(const std::string& path) {
  struct statfs s {};
  if (::statfs(path.c_str(), &s) != 0) return "";
  switch (static_cast<unsigned long>(s.f_type)) {
    case 0x9123683EUL: return "btrfs";
    case 0xEF53UL: return "ext4";
    case 0x58465342UL: return "xfs";
    case 0x01021994UL: return "tmpfs";
    case 0x794C7630UL: return "overlay";
    case 0x6969UL: return "nfs";
    case 0xFF534D42UL: return "cifs";
    case 0xFE534D42UL: return "smb2";
    case 0x517BUL: return "smb";
    case 0x65735546UL: return "fuse";
    case 0x00C36400UL: return "ceph";
    default: return fmt::format("0x{:x}", static_cast<unsigned long>(s.f_type));
  }
}

std::chrono::system_clock::time_point LocalStorage::created(const std::string& subvolume) {
  return btrfs::subvolume_info(subvolume).created;
}

std::uint64_t LocalStorage::tree_bytes(const std::string& path) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) total += it->file_size(ec);
  return total;
}

std::uint64_t LocalStorage::generation(const std::string& subvolume) { return btrfs::subvolume_info(subvolume).generation; }

std::string LocalStorage::tree_fingerprint(const std::string& path, const std::string& except) {
  // One line per file (path, size, mtime in ns; a symlink's target), sorted: the walk's order is
  // the directory's, not a stable one. FNV-1a over the lines: a change detector, stable across
  // builds, not a defence against someone forging a tree.
  std::vector<std::string> lines;
  std::error_code ec;
  std::string root = path;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::string rel = it->path().string().substr(root.size() + 1);  // the iterator's paths are root + "/" + ...
    if (rel == except) continue;
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) throw std::runtime_error(fmt::format("stat {}: {}", it->path().string(), std::strerror(errno)));
    if (S_ISDIR(st.st_mode)) continue;
    std::string target = S_ISLNK(st.st_mode) ? fs::read_symlink(it->path(), ec).string() : "";
    lines.push_back(fmt::format("{}\t{}\t{}.{:09}\t{}", rel, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec, target));
  }
  if (ec) throw std::runtime_error(fmt::format("walk {}: {}", path, ec.message()));
  std::sort(lines.begin(), lines.end());
  std::uint64_t h = 14695981039346656037ULL;
  for (const auto& line : lines)
    for (unsigned char ch : line + "\n") h = (h ^ ch) * 1099511628211ULL;
  return fmt::format("{:016x}", h);
}

ports::DiskUsage LocalStorage::disk_usage(const std::string& path) {
  auto u = btrfs::extent_usage(path);
  return {u.exclusive_bytes, u.distinct_bytes};
}

bool LocalStorage::exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

bool LocalStorage::is_directory(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

std::vector<std::string> LocalStorage::list_dir(const std::string& path) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(path, ec)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

double LocalStorage::age_seconds(const std::string& path) {
  std::error_code ec;
  auto t = fs::last_write_time(path, ec);
  if (ec) return 0;
  return std::chrono::duration<double>(fs::file_time_type::clock::now() - t).count();
}

std::optional<std::string> LocalStorage::read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void LocalStorage::write_file(const std::string& path, const std::string& content, const ports::FileMode& mode) {
  std::string tmp = path + ".mupgrade-tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out.flush()) throw Error(fmt::format("cannot write {}", tmp), "check the free space and permissions");
  }
  if (::chown(tmp.c_str(), mode.uid, mode.gid) != 0 || ::chmod(tmp.c_str(), mode.mode & 07777) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw Error(fmt::format("cannot give {} owner {}:{} and mode {:o} ({})", tmp, mode.uid, mode.gid, mode.mode, std::strerror(err)));
  }
  fs::rename(tmp, path);
}

std::optional<ports::FileMode> LocalStorage::file_mode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return ports::FileMode{st.st_uid, st.st_gid, st.st_mode & 07777};
}

void LocalStorage::set_mode(const std::string& path, const ports::FileMode& mode) {
  if (::chown(path.c_str(), mode.uid, mode.gid) != 0 || ::chmod(path.c_str(), mode.mode & 07777) != 0) {
    int err = errno;
    throw Error(fmt::format("cannot give {} owner {}:{} and mode {:o} ({})", path, mode.uid, mode.gid, mode.mode, std::strerror(err)),
                "run mupgrade as root");
  }
}

void LocalStorage::make_dirs(const std::string& path) { fs::create_directories(path); }

void LocalStorage::remove(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
}

void LocalStorage::remove_tree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
}

void LocalStorage::rename(const std::string& from, const std::string& to) { fs::rename(from, to); }

}  // namespace mupgrade::btrfs
