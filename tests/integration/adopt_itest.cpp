// `mupgrade adopt --from` through the binary on real Docker, btrfs, MariaDB, PostgreSQL, PHP and
// HAProxy: stacks made with Compose labels (no compose binary) by support/adopt_stack, laid out
// like the families adopt knows, with the stand-in Moodle installed (Bitnami-like, moodlehq-like,
// Alpine-like with a Redis holding the sessions and a MUC store: a user logged in on the stack is
// still logged in on the adopted set, and again after the undo).
// Each is adopted (dry run, then --yes), a cutover and a rollback run on it, then `adopt
// --undo` brings the original stack back, serving with its data.

#include "adopt_stack.hpp"
#include "site_fixture.hpp"

#include "mupgrade/core/site_state.hpp"
#include "mupgrade/http/http_client.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

using namespace mupgrade;
using namespace mupgrade::itest;
namespace fs = std::filesystem;

namespace {

class AdoptITest : public ::testing::TestWithParam<StackFamily> {};

TEST_P(AdoptITest, AdoptCutoverRollbackThenUndoRestoresTheStack) {
  const auto& fam = GetParam();
  bool alpine = fam.kind == StackKind::alpine;
  StackVolumes volumes;  // destroyed last: a volume goes once the containers using it are gone
  Cleanup cleanup;
  SiteCleanup site_cleanup;
  std::string site = unique_name("adopt");
  site_cleanup.site = site;
  site_cleanup.pool = test_pool() + "/" + site;
  site_cleanup.state = scratch_dir() + "/" + site;
  std::string data = make_subvolume(cleanup, "stack");  // bind-mounted dirs and secrets
  std::string config = site_cleanup.state + "-site.yml";
  struct FilesCleanup {
    std::string f;
    ~FilesCleanup() { std::remove(f.c_str()); }
  } files{config};
  auto stack = make_stack(cleanup, volumes, fam, data);

  // A user logged in on the stack (the Alpine-like one keeps the session in its Redis).
  std::string sid = alpine ? login(fam.port, stack.host) : "";
  if (alpine) {
    ASSERT_EQ(whoami(fam.port, stack.host, sid), "user: admin");
  }
  std::string out;
  std::string common = fmt::format("--site {} --pool {} --state-dir {} --config {}", site, site_cleanup.pool, site_cleanup.state, config);
  // The dry run: what, where, how long; nothing made.
  ASSERT_EQ(run_binary(fmt::format("adopt --from {} {} 2>&1", stack.project, common), &out), 0) << out;
  EXPECT_NE(out.find("expected downtime"), std::string::npos) << out;
  EXPECT_EQ(out.find("Moodle-pw-1"), std::string::npos) << out;
  EXPECT_EQ(out.find("Root-pw-1"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(site_cleanup.pool));
  EXPECT_FALSE(fs::exists(config));

  auto t0 = std::chrono::steady_clock::now();
  int rc = run_binary(fmt::format("adopt --from {} {} --yes 2>&1", stack.project, common), &out);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(rc, 0) << out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("downtime ([0-9.]+) s"))) << out;
  std::printf("adopt --yes (%s): %.1f s, downtime %s s\n%s", fam.name, secs, m[1].str().c_str(), out.c_str());
  EXPECT_EQ(out.find("Moodle-pw-1"), std::string::npos) << out;
  auto state = core::load_site_state(site_cleanup.state);
  ASSERT_TRUE(state);
  std::string adopted = state->live_set;
  auto r = login_page(fam.port, stack.host);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["x-mupgrade-set"], adopted);
  EXPECT_EQ(read_file(site_cleanup.pool + "/sets/" + adopted + "/moodledata/users-file.txt"), "kept");
  EXPECT_FALSE(engine().inspect_container(stack.web)->running);
  EXPECT_FALSE(engine().inspect_container(stack.db)->running);
  EXPECT_EQ(read_file(config).find("Moodle-pw-1"), std::string::npos);
  if (alpine) {
    // Still logged in: the session came over in the stack's Redis dump, saved in the window.
    EXPECT_EQ(whoami(fam.port, stack.host, sid), "user: admin") << out;
    EXPECT_FALSE(engine().inspect_container(stack.redis)->running);
    EXPECT_NE(read_file(config).find("kind: redis"), std::string::npos);
    docker::ExecOptions keys;
    keys.cmd = {"redis-cli", "TYPE", "sess_" + sid};  // 4.4.1 keeps a session as a string <prefix><sid> (4.5: a hash)
    auto k = engine().exec("mupgrade-" + site + "-" + adopted + "-cache", keys);
    EXPECT_EQ(k.out, "string\n") << k.err;
  }

  // The adopted site upgrades and rolls back like any other.
  std::string releases = data + "/releases";
  make_release("4.4.3", releases + "/4.4.3");
  ASSERT_EQ(run_binary(fmt::format("cutover --config {} --target {}/4.4.3 2>&1", config, releases), &out), 0) << out;
  EXPECT_NE(core::load_site_state(site_cleanup.state)->live_set, adopted);
  ASSERT_EQ(run_binary(fmt::format("rollback --config {} 2>&1", config), &out), 0) << out;
  EXPECT_EQ(core::load_site_state(site_cleanup.state)->live_set, adopted);

  // Undo: the original stack serves again, with its data, out of maintenance.
  ASSERT_EQ(run_binary(fmt::format("adopt --undo --site {} --config {} 2>&1", site, config), &out), 0) << out;
  EXPECT_TRUE(engine().inspect_container(stack.web)->running);
  EXPECT_TRUE(engine().inspect_container(stack.db)->running);
  r = login_page(fam.port, stack.host);
  EXPECT_EQ(r.status, 200) << r.transport_error;
  EXPECT_NE(r.headers["x-mupgrade-set"], adopted);
  EXPECT_NE(r.body.find("4.4.1"), std::string::npos) << r.body.substr(0, 300);
  EXPECT_EQ(read_file(stack.moodledata_host + "/users-file.txt"), "kept");
  EXPECT_FALSE(fs::exists(stack.moodledata_host + "/climaintenance.html"));
  if (alpine) {
    EXPECT_TRUE(engine().inspect_container(stack.redis)->running);
    EXPECT_EQ(whoami(fam.port, stack.host, sid), "user: admin") << "the stack's Redis is back with its sessions";
    EXPECT_EQ(read_file(stack.moodledata_host + "/muc/config.php"), kAlpineMuc) << "the stack's MUC config untouched";
  }
  EXPECT_FALSE(fs::exists(site_cleanup.pool + "/sets"));
  EXPECT_FALSE(fs::exists(config));
  EXPECT_TRUE(engine().list_containers({{"mupgrade.site", site}}, true).empty());
}

INSTANTIATE_TEST_SUITE_P(Families, AdoptITest,
                         ::testing::Values(StackFamily{"bitnami_mariadb_volumes", StackKind::bitnami, 18720},
                                           StackFamily{"moodlehq_postgres_binds", StackKind::moodlehq, 18721},
                                           StackFamily{"alpine_postgres_redis", StackKind::alpine, 18822}),
                         [](const auto& p) { return std::string(p.param.name); });

}  // namespace
