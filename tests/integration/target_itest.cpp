// Target releases from git and from a web image, on real git, btrfs and Docker: plan reads
// them without writing, the first rehearsal or cutover extracts them once into a subvolume that
// green's code is snapshotted from, and a killed extraction never passes for a release.

#include "fixtures.hpp"
#include "site_fixture.hpp"

#include "mupgrade/btrfs/btrfs.hpp"
#include "mupgrade/core/error.hpp"
#include "mupgrade/ops/operations.hpp"
#include "mupgrade/ops/target.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

using namespace mupgrade;
using namespace mupgrade::itest;
namespace fs = std::filesystem;

namespace {

// A git repository with the stand-in's 4.4.3 tagged v4.4.3 and a later commit without Moodle.
std::string make_repo(const std::string& dir) {
  fs::create_directories(dir);
  make_release("4.4.3", dir);
  std::string out;
  std::string git = "git -C '" + dir + "' -c user.email=t@example.invalid -c user.name=t ";
  EXPECT_EQ(sh(git + "init -q && " + git + "add -A && " + git + "commit -qm 4.4.3 && " + git + "tag v4.4.3 && " + git +
                   "rm -q -r . && " + git + "commit -qm empty && " + git + "tag empty",
               &out),
            0)
      << out;
  return dir;
}

// The site's config file with target.code replaced by `target_yaml`.
std::string config_with_target(const LifecycleSite& ls, const std::string& name, const std::string& target_yaml) {
  std::string text = read_file(ls.config_file);
  auto at = text.find("target:\n  code: ");
  auto end = text.find('\n', at + 16);
  text.replace(at, end - at, "target:\n" + target_yaml);
  std::string path = fs::path(ls.config_file).parent_path().string() + "/" + name + ".yml";
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST(TargetTest, AGitRefIsReadByPlanExtractedOnceAndUpgradedTo) {
  SiteCleanup cleanup;
  auto ls = make_site(cleanup, db::Kind::mariadb, 18250);
  std::string repo = make_repo(scratch_dir() + "/moodle-" + ls->cfg.site + ".git");
  std::string cfg = config_with_target(*ls, "git", "  git:\n    repo: " + repo + "\n    ref: v4.4.3\n");
  std::string targets = ls->cfg.pool + "/targets";

  std::string out;
  EXPECT_EQ(run_binary("plan --config " + cfg, &out), 0) << out;
  EXPECT_NE(out.find("4.4.3 (Build: 20240902) (2024042203.00) from v4.4.3 ("), std::string::npos) << out;
  EXPECT_NE(out.find("not extracted yet"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(targets)) << "plan must not write";

  // A ref that names nothing, and a commit without Moodle: refused, nothing extracted.
  std::string bad = config_with_target(*ls, "bad", "  git: {repo: " + repo + ", ref: v9.9.9}\n");
  EXPECT_EQ(run_binary("cutover --config " + bad, &out), 2) << out;
  EXPECT_NE(out.find("target.git.ref 'v9.9.9' names no commit in " + repo), std::string::npos) << out;
  std::string empty = config_with_target(*ls, "empty", "  git: {repo: " + repo + ", ref: empty}\n");
  EXPECT_NE(run_binary("cutover --config " + empty, &out), 0) << out;
  EXPECT_NE(out.find("empty of " + repo + " holds no Moodle code"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(targets));
  EXPECT_EQ(ls->served_release(), "4.4.1 (Build: 20240610)");

  EXPECT_EQ(run_binary("cutover --config " + cfg, &out), 0) << out;
  EXPECT_NE(out.find("extracted into " + targets + "/git-"), std::string::npos) << out;
  EXPECT_EQ(ls->served_release(), "4.4.3 (Build: 20240902)");
  auto state = ls->site->state();
  ASSERT_TRUE(state);
  std::string extracted;
  for (const auto& e : fs::directory_iterator(targets)) extracted = e.path().string();
  ASSERT_TRUE(btrfs::is_subvolume(extracted)) << extracted;
  // Green's code is a snapshot of the extracted release, not another copy.
  EXPECT_EQ(btrfs::subvolume_info(ls->site->paths(state->live_set).code).parent_uuid, btrfs::subvolume_info(extracted).uuid);
  EXPECT_EQ(run_binary("rollback --discard-writes --config " + cfg, &out), 0) << out;

  // A later run reuses the extraction.
  EXPECT_EQ(run_binary("rehearse --config " + cfg, &out), 0) << out;
  EXPECT_EQ(out.find("extracted into"), std::string::npos) << out;

  // A killed extraction leaves <key>.partial: the next run removes it and extracts again.
  btrfs::delete_subvolume(extracted);
  btrfs::create_subvolume(extracted + ".partial");
  std::ofstream(extracted + ".partial/half-written.php") << "<?php";
  EXPECT_EQ(run_binary("plan --config " + cfg, &out), 0) << out;
  EXPECT_NE(out.find("not extracted yet"), std::string::npos) << out;
  EXPECT_EQ(run_binary("rehearse --config " + cfg, &out), 0) << out;
  EXPECT_NE(out.find("extracted into " + extracted), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(extracted + ".partial"));
  EXPECT_FALSE(fs::exists(extracted + "/half-written.php"));
  EXPECT_TRUE(fs::exists(extracted + "/version.php"));

  // prune keeps the extraction the config names and removes it once the config moves on.
  std::string key = fs::path(extracted).filename().string();
  EXPECT_EQ(run_binary("prune --config " + cfg, &out), 0) << out;
  EXPECT_NE(out.find(key), std::string::npos) << out;
  EXPECT_NE(out.find("the target the site config names"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(extracted));
  EXPECT_EQ(run_binary("prune --config " + ls->config_file, &out), 0) << out;
  EXPECT_NE(out.find("an extracted release the config no longer names"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(extracted));
  EXPECT_EQ(ls->served_release(), "4.4.1 (Build: 20240610)");
}

TEST(TargetTest, AWebImageCarryingTheCodeIsReadAndExtractedWithoutLeftovers) {
  Cleanup cleanup;
  std::string name = unique_name("img");
  std::string ctx = scratch_dir() + "/" + name;
  fs::create_directories(ctx + "/code");
  make_release("4.4.3", ctx + "/code");
  std::ofstream(ctx + "/Dockerfile") << "FROM mupgrade/web:php8.2\nCOPY code/ /opt/moodle/\n";
  std::string image = "mupt-" + name + ":4.4.3", out;
  ASSERT_EQ(sh("docker build -q -t " + image + " '" + ctx + "'", &out), 0) << out;
  struct RemoveImage {
    std::string image;
    ~RemoveImage() { sh("docker rmi -f " + image); }
  } remove_image{image};

  core::SiteConfig cfg;
  cfg.site = name;
  cfg.pool = make_subvolume(cleanup, "pool");
  cfg.state_dir = ctx + "/state";
  cfg.target_image = image;
  cfg.target_image_code = "/opt/moodle";
  ops::Site site(cfg, host_ports());
  struct RemoveTargets {
    std::string dir;
    ~RemoveTargets() { sh("find '" + dir + "' -mindepth 1 -maxdepth 1 -inum 256 -type d | xargs -r btrfs subvolume delete; rm -rf '" + dir + "'"); }
  } remove_targets{cfg.pool + "/targets"};

  auto target = ops::resolve_target(site, "");
  EXPECT_EQ(target.source, ops::TargetRelease::Source::image);
  EXPECT_EQ(target.image_id, engine().inspect_image(image)->value("Id", ""));
  EXPECT_EQ(ops::target_version(site, target).release, "4.4.3 (Build: 20240902)");
  EXPECT_FALSE(target.extracted());
  EXPECT_TRUE(engine().list_containers({{"mupgrade.site", name}}).empty()) << "the throwaway container must go";

  std::ostringstream said;
  ops::TextProgress progress(said);
  ops::extract_target(site, target, progress);
  EXPECT_TRUE(btrfs::is_subvolume(target.code_dir));
  EXPECT_EQ(site.code_version(target.code_dir).release, "4.4.3 (Build: 20240902)");
  EXPECT_NE(said.str().find("extracted into " + target.code_dir), std::string::npos) << said.str();
  said.str("");
  target = ops::resolve_target(site, "");
  ops::extract_target(site, target, progress);
  EXPECT_EQ(said.str(), "") << "extracted once";

  // The code is not where the config says: a clear error, no half release, no container.
  cfg.target_image_code = "/opt/elsewhere";
  ops::Site wrong(cfg, host_ports());
  auto missing = ops::resolve_target(wrong, "");
  try {
    ops::target_version(wrong, missing);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("holds no Moodle code at /opt/elsewhere"), std::string::npos) << e.what();
  }
  EXPECT_NE(missing.code_dir, target.code_dir);
  EXPECT_THROW(ops::extract_target(wrong, missing, progress), Error);
  EXPECT_FALSE(fs::exists(missing.code_dir));
  EXPECT_FALSE(fs::exists(missing.code_dir + ".partial"));
  EXPECT_TRUE(engine().list_containers({{"mupgrade.site", name}}).empty());
}
