// The btrfs adapter against a real (loop-mounted) btrfs.

#include "fixtures.hpp"

#include "mupgrade/btrfs/btrfs.hpp"
#include "mupgrade/btrfs/local_storage.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>

using namespace mupgrade;
using namespace mupgrade::itest;
namespace fs = std::filesystem;

namespace {
int cleanup_counter = 0;
}  // namespace


TEST(BtrfsTest, CreatesSnapshotsAndDeletesSubvolumes) {
  Cleanup cleanup;
  std::string src = make_subvolume(cleanup, "src");
  EXPECT_TRUE(btrfs::is_btrfs(src));
  EXPECT_TRUE(btrfs::is_subvolume(src));
  fs::create_directories(src + "/dir");
  EXPECT_FALSE(btrfs::is_subvolume(src + "/dir"));
  EXPECT_FALSE(btrfs::is_subvolume(src + "/missing"));
  std::ofstream(src + "/dir/file") << "blue";

  std::string rw = src + "-rw", ro = src + "-ro";
  cleanup.subvolume(rw);
  cleanup.subvolume(ro);
  btrfs::snapshot(src, rw);
  btrfs::snapshot(src, ro, true);
  // Copy-on-write: the copies are independent.
  std::ofstream(rw + "/dir/file") << "green";
  EXPECT_EQ(read_file(src + "/dir/file"), "blue");
  EXPECT_EQ(read_file(rw + "/dir/file"), "green");
  EXPECT_THROW(std::ofstream(ro + "/dir/new").exceptions(std::ios::failbit), std::ios::failure);
  EXPECT_FALSE(fs::exists(ro + "/dir/new"));

  auto info_src = btrfs::subvolume_info(src), info_ro = btrfs::subvolume_info(ro);
  EXPECT_EQ(info_ro.parent_uuid, info_src.uuid);
  EXPECT_TRUE(info_src.parent_uuid.empty());
  EXPECT_TRUE(info_ro.read_only);
  EXPECT_FALSE(info_src.read_only);
  EXPECT_NE(info_src.id, info_ro.id);
  EXPECT_GT(info_src.generation, 0u);
  auto age = std::chrono::system_clock::now() - info_ro.created;
  EXPECT_LT(std::chrono::duration_cast<std::chrono::minutes>(age).count(), 5);

  btrfs::set_read_only(ro, false);
  EXPECT_FALSE(btrfs::subvolume_info(ro).read_only);
  btrfs::delete_subvolume(rw);
  EXPECT_FALSE(fs::exists(rw));
}

TEST(BtrfsTest, ListsAndDeletesNestedSubvolumesRecursively) {
  Cleanup cleanup;
  std::string top = make_subvolume(cleanup, "top");
  btrfs::create_subvolume(top + "/a");
  btrfs::create_subvolume(top + "/a/b");
  auto subs = btrfs::list_subvolumes(top);
  std::sort(subs.begin(), subs.end());
  EXPECT_EQ(subs, (std::vector<std::string>{"a", "a/b"}));
  btrfs::delete_subvolume(top);
  EXPECT_FALSE(fs::exists(top));
}

TEST(BtrfsTest, ReportsSpaceAndSyncs) {
  auto s = btrfs::space(test_pool());
  EXPECT_GT(s.total_bytes, 0u);
  EXPECT_LE(s.free_bytes, s.total_bytes);
  EXPECT_NO_THROW(btrfs::sync(test_pool()));
}

// What prune's floor counts: a snapshot frees only what changed since; shared extents count once.
TEST(BtrfsTest, ExtentUsageTellsExclusiveFromSharedBytes) {
  Cleanup cleanup;
  std::string top = make_subvolume(cleanup, "extents");
  btrfs::create_subvolume(top + "/live");
  ASSERT_EQ(sh("head -c 4M /dev/urandom > '" + top + "/live/data' && sync"), 0);
  btrfs::snapshot(top + "/live", top + "/old");
  ASSERT_EQ(sh("head -c 1M /dev/urandom > '" + top + "/old/changed' && sync"), 0);
  auto live = btrfs::extent_usage(top + "/live"), old = btrfs::extent_usage(top + "/old"), both = btrfs::extent_usage(top);
  constexpr std::uint64_t MiB = 1ULL << 20;
  EXPECT_EQ(live.exclusive_bytes, 0u) << "all of it shared with the snapshot";
  EXPECT_EQ(old.exclusive_bytes, 1 * MiB) << "only what changed since the snapshot";
  EXPECT_EQ(old.distinct_bytes, 5 * MiB);
  EXPECT_EQ(both.distinct_bytes, 5 * MiB) << "the shared 4 MiB once";
  EXPECT_THROW(btrfs::extent_usage(top + "/missing"), btrfs::Failure);
}

TEST(BtrfsTest, ErrorsNameTheCallThePathAndErrno) {
  Cleanup cleanup;
  std::string base = make_subvolume(cleanup, "err");
  try {
    btrfs::snapshot(base + "/does-not-exist", base + "/copy");
    FAIL() << "expected btrfs::Failure";
  } catch (const btrfs::Failure& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("btrfs_util_create_snapshot()"), std::string::npos) << what;
    EXPECT_NE(what.find("does-not-exist"), std::string::npos) << what;
    EXPECT_EQ(e.error_number(), ENOENT) << what;
  }
  EXPECT_FALSE(btrfs::is_btrfs("/proc"));
  EXPECT_THROW(btrfs::create_subvolume("/proc/mupgrade-test"), btrfs::Failure);
}

// Facts, not assertions: what a snapshot costs with dirty page-cache data and after a sync.
TEST(BtrfsTest, RecordsSnapshotCostWithAndWithoutDirtyData) {
  Cleanup cleanup;
  std::string src = make_subvolume(cleanup, "dirty");
  std::string chunk(1 << 20, 'x');
  {
    std::ofstream out(src + "/blob");
    for (int i = 0; i < 64; ++i) out << chunk;  // 64 MB left dirty in the page cache
  }
  auto time_snapshot = [&](const std::string& dest) {
    cleanup.subvolume(dest);
    auto t0 = std::chrono::steady_clock::now();
    btrfs::snapshot(src, dest, true);
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  double dirty_ms = time_snapshot(src + "-s1");
  std::ofstream(src + "/blob2") << chunk;
  btrfs::sync(src);
  double synced_ms = time_snapshot(src + "-s2");
  RecordProperty("snapshot_ms_64MB_dirty", std::to_string(dirty_ms));
  RecordProperty("snapshot_ms_after_sync", std::to_string(synced_ms));
  std::cout << "snapshot with 64 MB dirty: " << dirty_ms << " ms; after sync: " << synced_ms << " ms\n";
  EXPECT_EQ(fs::file_size(src + "-s1/blob"), 64u << 20);
}

// What tells a kept OPcache cache's code from green's: every path, size and mtime, one file
// left out (config.php), on a real tree; a snapshot keeps it, any change to a file moves it.
TEST(LocalStorageTest, TreeFingerprintFollowsEveryFileButTheOneLeftOut) {
  Cleanup cleanup;
  btrfs::LocalStorage storage;
  std::string code = make_subvolume(cleanup, "fp");
  fs::create_directories(code + "/lib/classes");
  std::ofstream(code + "/version.php") << "<?php $version = 1;\n";
  std::ofstream(code + "/lib/classes/a.php") << "<?php class a {}\n";
  std::ofstream(code + "/config.php") << "<?php // set A\n";
  fs::create_symlink("classes/a.php", code + "/lib/link.php");
  std::string before = storage.tree_fingerprint(code, "config.php");
  EXPECT_EQ(before.size(), 16u);
  EXPECT_EQ(storage.tree_fingerprint(code, "config.php"), before) << "the same tree, the same digest";

  std::string copy = code + "-snap";
  cleanup.subvolume(copy);
  btrfs::snapshot(code, copy);
  EXPECT_EQ(storage.tree_fingerprint(copy, "config.php"), before) << "a snapshot is the same code";
  std::ofstream(copy + "/config.php") << "<?php // set B, another DB and password\n";
  EXPECT_EQ(storage.tree_fingerprint(copy, "config.php"), before) << "config.php is left out";
  EXPECT_NE(storage.tree_fingerprint(copy, ""), before);

  auto changed = [&](auto&& change) {
    std::string c = code + "-" + std::to_string(cleanup_counter++);
    cleanup.subvolume(c);
    btrfs::snapshot(code, c);
    change(c);
    return storage.tree_fingerprint(c, "config.php") != before;
  };
  EXPECT_TRUE(changed([](const std::string& c) { std::ofstream(c + "/lib/classes/a.php", std::ios::app) << "// more\n"; })) << "size";
  EXPECT_TRUE(changed([](const std::string& c) {
    auto t = fs::last_write_time(c + "/version.php");
    fs::last_write_time(c + "/version.php", t + std::chrono::nanoseconds(1));
  })) << "mtime, to the nanosecond";
  EXPECT_TRUE(changed([](const std::string& c) { std::ofstream(c + "/lib/new.php") << ""; })) << "a new file";
  EXPECT_TRUE(changed([](const std::string& c) { fs::remove(c + "/lib/classes/a.php"); })) << "a file gone";
  EXPECT_TRUE(changed([](const std::string& c) {
    // The same length and the old link's time: only the target differs.
    std::string link = c + "/lib/link.php";
    struct stat old {};
    ASSERT_EQ(::lstat(link.c_str(), &old), 0);
    fs::remove(link);
    fs::create_symlink("classes/b.php", link);
    struct timespec times[2] = {old.st_atim, old.st_mtim};
    ASSERT_EQ(::utimensat(AT_FDCWD, link.c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
  })) << "a symlink's target";
  EXPECT_THROW(storage.tree_fingerprint(code + "/missing", ""), std::exception);
}

// What tells green's start that its code is as seed-opcache saw it: the code subvolume's
// generation, read after a sync, stays while other subvolumes change and moves with its own.
TEST(LocalStorageTest, AGenerationMovesOnlyWithItsOwnSubvolumesCommittedChanges) {
  Cleanup cleanup;
  btrfs::LocalStorage storage;
  std::string code = make_subvolume(cleanup, "gen"), other = make_subvolume(cleanup, "gen");
  std::ofstream(code + "/config.php") << "<?php // written just before the seed\n";
  storage.sync(code);
  auto seeded = storage.generation(code);
  std::ofstream(other + "/ibdata") << "blue's DB writes on";
  btrfs::snapshot(other, other + "-snap");
  cleanup.subvolume(other + "-snap");
  storage.sync(other);
  EXPECT_EQ(storage.generation(code), seeded) << "other subvolumes' changes and snapshots leave it";
  std::ofstream(code + "/plugin.php") << "<?php // a site's step\n";
  storage.sync(code);
  EXPECT_GT(storage.generation(code), seeded);
}
