#include "mupgrade/btrfs/btrfs.hpp"

#include <btrfsutil.h>
#include <fmt/format.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <linux/magic.h>
#include <unordered_set>
#include <vector>

namespace mupgrade::btrfs {

namespace {

std::string uuid_text(const unsigned char (&u)[16]) {
  bool zero = true;
  for (unsigned char c : u) zero = zero && c == 0;
  if (zero) return {};
  return fmt::format("{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                     u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

// libbtrfsutil sets errno alongside its own error code; both are worth showing.
void check(btrfs_util_error err, const char* call, const std::string& path) {
  if (err == BTRFS_UTIL_OK) return;
  int saved = errno;
  std::string hint;
  if (saved == EPERM || saved == EACCES) hint = "run mupgrade as root";
  if (err == BTRFS_UTIL_ERROR_NOT_BTRFS) hint = "put the pool on a btrfs filesystem (scripts/setup can make one)";
  throw Failure(fmt::format("{}() failed: {}", call, btrfs_util_strerror(err)), path, saved, hint);
}

}  // namespace

Failure::Failure(const std::string& call, const std::string& path, int err, std::string hint)
    : Error(fmt::format("{} on {}{}", call, path, err ? fmt::format(" (errno {}: {})", err, std::strerror(err)) : ""),
            std::move(hint)),
      errno_(err) {}

bool is_btrfs(const std::string& path) {
  struct statfs fs {};
  return ::statfs(path.c_str(), &fs) == 0 && fs.f_type == BTRFS_SUPER_MAGIC;
}

bool is_subvolume(const std::string& path) {
  btrfs_util_error err = btrfs_util_is_subvolume(path.c_str());
  if (err == BTRFS_UTIL_OK) return true;
  if (err == BTRFS_UTIL_ERROR_NOT_SUBVOLUME || err == BTRFS_UTIL_ERROR_NOT_BTRFS) return false;
  if ((err == BTRFS_UTIL_ERROR_STAT_FAILED || err == BTRFS_UTIL_ERROR_STATFS_FAILED) && errno == ENOENT) return false;
  check(err, "btrfs_util_is_subvolume", path);
  return false;
}

void create_subvolume(const std::string& path) {
  check(btrfs_util_create_subvolume(path.c_str(), 0, nullptr, nullptr), "btrfs_util_create_subvolume", path);
}

void snapshot(const std::string& source, const std::string& dest, bool read_only) {
  int flags = read_only ? BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY : 0;
  check(btrfs_util_create_snapshot(source.c_str(), dest.c_str(), flags, nullptr, nullptr), "btrfs_util_create_snapshot",
        source + " -> " + dest);
}

void delete_subvolume(const std::string& path) {
  check(btrfs_util_delete_subvolume(path.c_str(), BTRFS_UTIL_DELETE_SUBVOLUME_RECURSIVE), "btrfs_util_delete_subvolume",
        path);
}

SubvolumeInfo subvolume_info(const std::string& path) {
  struct btrfs_util_subvolume_info raw {};
  check(btrfs_util_subvolume_info(path.c_str(), 0, &raw), "btrfs_util_subvolume_info", path);
  SubvolumeInfo info;
  info.id = raw.id;
  info.parent_id = raw.parent_id;
  info.uuid = uuid_text(raw.uuid);
  info.parent_uuid = uuid_text(raw.parent_uuid);
  info.generation = raw.generation;
  info.created = std::chrono::system_clock::time_point(std::chrono::seconds(raw.otime.tv_sec));
  info.read_only = (raw.flags & 1ULL) != 0;  // BTRFS_ROOT_SUBVOL_RDONLY
  return info;
}

std::vector<std::string> list_subvolumes(const std::string& path) {
  btrfs_util_subvolume_iterator* it = nullptr;
  check(btrfs_util_create_subvolume_iterator(path.c_str(), 0, 0, &it), "btrfs_util_create_subvolume_iterator", path);
  std::vector<std::string> out;
  for (;;) {
    char* sub = nullptr;
    btrfs_util_error err = btrfs_util_subvolume_iterator_next(it, &sub, nullptr);
    if (err == BTRFS_UTIL_ERROR_STOP_ITERATION) break;
    if (err != BTRFS_UTIL_OK) {
      btrfs_util_destroy_subvolume_iterator(it);
      check(err, "btrfs_util_subvolume_iterator_next", path);
    }
    out.emplace_back(sub);
    std::free(sub);
  }
  btrfs_util_destroy_subvolume_iterator(it);
  return out;
}

SpaceInfo space(const std::string& path) {
  struct statvfs vfs {};
  if (::statvfs(path.c_str(), &vfs) != 0) throw Failure("statvfs() failed", path, errno);
  return {static_cast<std::uint64_t>(vfs.f_blocks) * vfs.f_frsize, static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize};
}

namespace {

// Adds one file's extents: exclusive ones to `u.exclusive_bytes`, each physical extent once to
// `u.distinct_bytes` (`seen` holds the physical addresses met so far). Inline data lives in
// metadata: counted as its length, exclusive unless flagged shared.
void add_file_extents(const std::string& file, ExtentUsage& u, std::unordered_set<std::uint64_t>& seen) {
  int fd = ::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = ::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return;  // removed while we walk (a running DB)
    throw Failure("open() failed", file, errno);
  }
  constexpr unsigned kBatch = 256;
  std::vector<char> buf(sizeof(fiemap) + kBatch * sizeof(fiemap_extent));
  auto* fm = reinterpret_cast<fiemap*>(buf.data());
  std::uint64_t start = 0;
  for (bool last = false; !last;) {
    std::memset(buf.data(), 0, buf.size());
    fm->fm_start = start;
    fm->fm_length = ~0ULL - start;
    fm->fm_flags = FIEMAP_FLAG_SYNC;
    fm->fm_extent_count = kBatch;
    if (::ioctl(fd, FS_IOC_FIEMAP, fm) != 0) {
      int err = errno;
      ::close(fd);
      throw Failure("ioctl(FS_IOC_FIEMAP) failed", file, err);
    }
    if (fm->fm_mapped_extents == 0) break;
    for (unsigned i = 0; i < fm->fm_mapped_extents; ++i) {
      const fiemap_extent& e = fm->fm_extents[i];
      bool shared = e.fe_flags & FIEMAP_EXTENT_SHARED;
      if (!shared) u.exclusive_bytes += e.fe_length;
      if ((e.fe_flags & FIEMAP_EXTENT_DATA_INLINE) || seen.insert(e.fe_physical).second) u.distinct_bytes += e.fe_length;
      last = e.fe_flags & FIEMAP_EXTENT_LAST;
      start = e.fe_logical + e.fe_length;
    }
  }
  ::close(fd);
}

}  // namespace

ExtentUsage extent_usage(const std::string& path) {
  namespace fs = std::filesystem;
  ExtentUsage u;
  std::unordered_set<std::uint64_t> seen;
  std::error_code ec;
  fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, ec);
  if (ec) throw Failure("opendir() failed", path, ec.value());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) throw Failure("readdir() failed", path, ec.value());
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) add_file_extents(it->path().string(), u, seen);
  }
  return u;
}

void sync(const std::string& path) { check(btrfs_util_sync(path.c_str()), "btrfs_util_sync", path); }

void set_read_only(const std::string& path, bool read_only) {
  check(btrfs_util_set_subvolume_read_only(path.c_str(), read_only), "btrfs_util_set_subvolume_read_only", path);
}

}  // namespace mupgrade::btrfs
