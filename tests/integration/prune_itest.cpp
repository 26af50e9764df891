// prune's free-space floor on a real btrfs (issue 11): two sites' pools on one small
// loop-mounted filesystem of this test's own. The other site fills it: prune of this site
// proposes nothing it keeps and says whose data it is. Then this site's own old set holds the
// space: the floor takes that set, and only it.

#include "fixtures.hpp"

#include "mupgrade/btrfs/btrfs.hpp"
#include "mupgrade/ops/operations.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <sstream>

using namespace mupgrade;
using namespace mupgrade::itest;
namespace fs = std::filesystem;

namespace {

// A 3 GiB btrfs (sparse image on the test pool) mounted under the scratch dir; unmounted and
// removed at the end, even when the test fails.
struct SmallPool {
  std::string image, mnt;
  explicit SmallPool(const std::string& name) : image(test_pool() + "/" + name + ".img"), mnt(scratch_dir() + "/" + name) {
    fs::create_directories(mnt);
    std::string out;
    int rc = sh(fmt::format("truncate -s 3G '{0}' && mkfs.btrfs -q '{0}' && mount -o loop '{0}' '{1}'", image, mnt), &out);
    if (rc != 0) throw std::runtime_error("cannot make the loop btrfs: " + out);
  }
  ~SmallPool() {
    sh(fmt::format("umount '{}'", mnt));
    std::error_code ec;
    fs::remove(image, ec);
    fs::remove(mnt, ec);
  }
};

void write_random(const std::string& file, int mib) {
  ASSERT_EQ(sh(fmt::format("head -c {}M /dev/urandom > '{}' && sync", mib, file)), 0) << file;
}

}  // namespace

TEST(PruneFloor, AnotherSitesDataFillingThePoolCostsThisSiteNothingItKeeps) {
  std::string name = unique_name("floor");
  SmallPool pool(name);
  core::SiteConfig cfg;
  cfg.site = name;
  cfg.pool = pool.mnt + "/" + name + "-a";
  cfg.state_dir = scratch_dir() + "/" + name + "-state";
  cfg.network = "mupgrade-" + name;
  cfg.retention.keep_sets = 3;
  cfg.retention.min_free_bytes = 2ULL << 30;
  // This site: the live set, the rollback target and an older set, both snapshots of the live one.
  auto set = [&](const std::string& id) { return cfg.pool + "/sets/" + id; };
  fs::create_directories(set("3-live"));
  for (const auto& sub : {"db", "moodledata", "code"}) btrfs::create_subvolume(set("3-live") + "/" + sub);
  write_random(set("3-live") + "/db/ibdata1", 96);
  for (const auto& id : {"2-rollback", "1-old"}) {
    fs::create_directories(set(id));
    for (const auto& sub : {"db", "moodledata", "code"}) btrfs::snapshot(set("3-live") + "/" + sub, set(id) + "/" + sub);
  }
  write_random(set("1-old") + "/db/changed", 8);
  ops::Site site(cfg, host_ports());
  core::SiteState st;
  st.live_set = "3-live";
  st.rollback_set = "2-rollback";
  site.save_state(st);

  // The other site fills the filesystem: 1.4 GiB of its own, beside this site's pool.
  std::string other = pool.mnt + "/" + name + "-b";
  fs::create_directories(other);
  ASSERT_EQ(sh(fmt::format("fallocate -l 1400M '{}/data' && sync", other)), 0);
  ASSERT_LT(btrfs::space(cfg.pool).free_bytes, cfg.retention.min_free_bytes) << "the pool is below the floor";

  std::ostringstream dry;
  EXPECT_EQ(ops::prune(site, {true}, dry), 0);
  std::printf("prune --dry-run with the other site's 1.4 GiB on the pool:\n%s", dry.str().c_str());
  EXPECT_EQ(dry.str().find("would rm"), std::string::npos) << "nothing this site keeps is proposed:\n" << dry.str();
  EXPECT_NE(dry.str().find("is outside it (beside it in " + pool.mnt + ": " + name + "-b)"), std::string::npos) << dry.str();
  EXPECT_NE(dry.str().find("would free 8 MiB"), std::string::npos) << "the old set frees only what it changed:\n" << dry.str();
  EXPECT_NE(dry.str().find("hint: free space where the other data lives"), std::string::npos) << dry.str();
  std::ostringstream real;
  EXPECT_EQ(ops::prune(site, {false}, real), 0);
  for (const auto& id : {"3-live", "2-rollback", "1-old"}) EXPECT_TRUE(fs::exists(set(id) + "/db")) << id << "\n" << real.str();

  // Now the space is this site's own: the old set holds 1.2 GiB nothing else shares.
  fs::remove(other + "/data");
  ASSERT_EQ(sh(fmt::format("fallocate -l 1200M '{}/db/grown' && sync", set("1-old"))), 0);
  btrfs::sync(cfg.pool);
  ASSERT_LT(btrfs::space(cfg.pool).free_bytes, cfg.retention.min_free_bytes);
  std::ostringstream own;
  EXPECT_EQ(ops::prune(site, {false}, own), 0);
  EXPECT_FALSE(fs::exists(set("1-old"))) << own.str();
  EXPECT_NE(own.str().find("below the floor of 2.0 GiB (retention.min_free_gb); frees 1.2 GiB"), std::string::npos) << own.str();
  EXPECT_TRUE(fs::exists(set("3-live") + "/db/ibdata1"));
  EXPECT_TRUE(fs::exists(set("2-rollback") + "/db/ibdata1"));
}
