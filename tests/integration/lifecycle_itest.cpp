// The blue-green lifecycle on real components: plan, cutover, rollback with its write guard,
// an upgrade failure that aborts with blue serving, the site lock, bad config, and kill -9
// at every step boundary of a cutover followed by recovery.

#include "fixtures.hpp"

#include "mupgrade/btrfs/btrfs.hpp"
#include "mupgrade/core/site_lock.hpp"
#include "mupgrade/http/http_client.hpp"
#include "mupgrade/ops/operations.hpp"
#include "mupgrade/ops/plans.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

using namespace mupgrade;
using namespace mupgrade::itest;
namespace fs = std::filesystem;

namespace {

// A site laid out the way scripts/demo and the README describe, on its own pool dir.
struct LifecycleSite {
  core::SiteConfig cfg;
  std::string config_file;
  std::string blue;
  std::string releases;
  std::unique_ptr<ops::Site> site;

  std::string release(const std::string& rel, const std::vector<std::string>& knobs = {}) {
    std::string dir = releases + "/" + rel + (knobs.empty() ? "" : "-" + std::to_string(knobs.size()) + knobs[0].substr(0, 4));
    if (fs::exists(dir)) return dir;
    btrfs::create_subvolume(dir);
    std::vector<std::string> args;
    for (auto& k : knobs) args.insert(args.end(), {"--knob", k});
    make_release(rel, dir, args);
    return dir;
  }
  std::string served_release() {
    auto r = http::get(cfg.proxy.url + "/login/index.php", cfg.public_host);
    auto at = r.body.find("class=\"release\">");
    if (r.status != 200 || at == std::string::npos) return "HTTP " + std::to_string(r.status);
    std::string text = r.body.substr(at + 16, r.body.find('<', at) - at - 16);
    return text.rfind("Moodle ", 0) == 0 ? text.substr(7) : text;
  }
};

// Deletes a whole pool dir (nested subvolumes first) and the site's containers and networks.
struct SiteCleanup {
  std::string pool, state, site;
  ~SiteCleanup() {
    for (auto& c : engine().list_containers({{"mupgrade.site", site}})) engine().remove_container(c.id, true);
    std::string out;
    sh("for n in $(docker network ls -q --filter label=mupgrade.site=" + site + "); do docker network rm $n; done", &out);
    sh("find '" + pool + "' -mindepth 1 -inum 256 -type d | sort -r | xargs -r btrfs subvolume delete; rm -rf '" + pool + "' '" + state + "'", &out);
  }
};

std::unique_ptr<LifecycleSite> make_site(SiteCleanup& cleanup, db::Kind kind, int port) {
  auto ls = std::make_unique<LifecycleSite>();
  std::string name = unique_name("s");
  auto& c = ls->cfg;
  c.site = name;
  c.public_url = "http://moodle.test:" + std::to_string(port);
  c.public_host = "moodle.test:" + std::to_string(port);
  c.pool = test_pool() + "/" + name;
  c.state_dir = scratch_dir() + "/" + name;
  cleanup = {c.pool, c.state_dir, name};
  c.network = "mupgrade-" + name;
  c.db.kind = kind == db::Kind::mariadb ? "mariadb" : "postgresql";
  c.db.image = kind == db::Kind::mariadb ? "mupgrade/mariadb:10.11" : "mupgrade/postgres:15";
  c.db.user = kind == db::Kind::mariadb ? "root" : "postgres";
  c.web_image = c.target_image = "mupgrade/web:php8.2";
  c.web_port = port;
  c.proxy = {"haproxy", "mupgrade-" + name + "-proxy", c.state_dir + "/proxy", ""};
  c.cron_drain_timeout_s = 10;
  fs::create_directories(c.state_dir + "/proxy");
  fs::create_directories(c.pool + "/sets");
  fs::create_directories(c.pool + "/releases");
  ls->releases = c.pool + "/releases";
  c.db.password_file = c.state_dir + "/db_password";
  std::ofstream(c.db.password_file) << "pw-" << name;
  engine().create_network(c.network, {{"mupgrade.site", name}});

  ls->blue = "blue-4.4.1";
  c.target_code = ls->release("4.4.3");
  ls->site = std::make_unique<ops::Site>(c, engine());
  auto p = ls->site->paths(ls->blue);
  fs::create_directories(p.dir);
  btrfs::snapshot(ls->release("4.4.1"), p.code);
  btrfs::create_subvolume(p.db);
  btrfs::create_subvolume(p.moodledata);
  ::chown(p.moodledata.c_str(), 33, 33);
  std::ofstream(p.code + "/config.php") << fmt::format(
      "<?php\nunset($CFG);\nglobal $CFG;\n$CFG = new stdClass();\n$CFG->dbtype = '{}';\n$CFG->dblibrary = 'native';\n"
      "$CFG->dbhost = 'db';\n$CFG->dbname = 'moodle';\n$CFG->dbuser = '{}';\n$CFG->dbpass = 'pw-{}';\n$CFG->prefix = 'mdl_';\n"
      "$CFG->dboptions = array('dbpersist' => 0, 'dbport' => '');\n$CFG->wwwroot = '{}';\n$CFG->dataroot = '/var/www/moodledata';\n"
      "$CFG->admin = 'admin';\n$CFG->directorypermissions = 02777;\nrequire_once(__DIR__ . '/lib/setup.php');\n",
      kind == db::Kind::mariadb ? "mariadb" : "pgsql", c.db.user, name, c.public_url);
  ls->site->start_db(ls->blue);
  ls->site->start_web(ls->blue, c.web_image);
  docker::ExecOptions install;
  install.cmd = {"php", "admin/cli/install_database.php", "--agree-license", "--adminpass=Admin-1234"};
  install.user = "www-data";
  install.workdir = "/var/www/moodle";
  auto r = engine().exec(ls->site->web_container(ls->blue), install);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

  ls->site->proxy()->install({ls->blue, ls->site->web_container(ls->blue), "", port});
  docker::ContainerSpec proxy;
  proxy.name = c.proxy.container;
  proxy.image = "mupgrade/haproxy:2.6";
  proxy.labels = {{"mupgrade.site", name}, {"mupgrade.role", "proxy"}};
  proxy.network = c.network;
  proxy.mounts = {{c.proxy.config_dir, "/usr/local/etc/haproxy", false}};
  proxy.ports = {{80, 0, "127.0.0.1"}};
  engine().create_container(proxy);
  engine().start_container(proxy.name);
  c.proxy.url = "http://127.0.0.1:" + std::to_string(engine().inspect_container(proxy.name)->host_ports.at(80));
  ls->site = std::make_unique<ops::Site>(c, engine());
  proxy::confirm_backend(ls->site->proxy_site(), ls->blue);

  // The same config as a file, for the binary.
  ls->config_file = c.state_dir + "/site.yml";
  std::ofstream(ls->config_file) << fmt::format(
      "site: {}\npublic_url: {}\npool: {}\nstate_dir: {}\nnetwork: {}\ndb:\n  kind: {}\n  password_file: {}\n"
      "web:\n  port: {}\nproxy:\n  container: {}\n  config_dir: {}\n  url: {}\ntarget:\n  code: {}\nupgrade:\n  cron_drain_timeout_s: 10\n",
      name, c.public_url, c.pool, c.state_dir, c.network, c.db.kind, c.db.password_file, port, c.proxy.container,
      c.proxy.config_dir, c.proxy.url, c.target_code);
  std::ostringstream out;
  EXPECT_EQ(ops::adopt(*ls->site, ls->blue, out), 0) << out.str();
  return ls;
}

int run_binary(const std::string& args, std::string* out) { return sh(std::string(MUPGRADE_BINARY) + " " + args, out); }

long forum_posts(ops::Site& site, const std::string& set) {
  return std::stol(db::connect(site.db_endpoint(set))->scalar("SELECT COUNT(*) FROM mdl_forum_posts").value_or("-1"));
}

}  // namespace

class LifecycleTest : public ::testing::TestWithParam<db::Kind> {};

TEST_P(LifecycleTest, CutoverThenRollbackWithTheWriteGuard) {
  SiteCleanup cleanup;
  auto ls = make_site(cleanup, GetParam(), 18180 + static_cast<int>(GetParam()));
  auto& site = *ls->site;
  ASSERT_EQ(ls->served_release(), "4.4.1 (Build: 20240610)");
  std::string out;
  EXPECT_EQ(run_binary("plan --config " + ls->config_file, &out), 0) << out;
  EXPECT_NE(out.find("plan: ready"), std::string::npos) << out;
  long posts_before = forum_posts(site, ls->blue);

  EXPECT_EQ(run_binary("cutover --config " + ls->config_file, &out), 0) << out;
  EXPECT_NE(out.find("cutover done"), std::string::npos) << out;
  EXPECT_EQ(ls->served_release(), "4.4.3 (Build: 20240902)");
  auto st = site.state();
  ASSERT_TRUE(st);
  EXPECT_EQ(st->rollback_set, ls->blue);
  std::string green = st->live_set;
  EXPECT_TRUE(site.maintenance_file_present(ls->blue)) << "blue stays idle in maintenance";

  // A write on green: rollback must say so and refuse without --discard-writes.
  auto w = http::get(ls->cfg.proxy.url + "/local/standin/write.php", ls->cfg.public_host);
  ASSERT_EQ(w.status, 200);
  EXPECT_EQ(run_binary("rollback --config " + ls->config_file, &out), 1) << out;
  EXPECT_NE(out.find("1 new rows in mdl_forum_posts"), std::string::npos) << out;
  EXPECT_NE(out.find("--discard-writes"), std::string::npos) << out;
  EXPECT_EQ(ls->served_release(), "4.4.3 (Build: 20240902)") << "a refused rollback changes nothing";

  EXPECT_EQ(run_binary("rollback --discard-writes --config " + ls->config_file, &out), 0) << out;
  EXPECT_EQ(ls->served_release(), "4.4.1 (Build: 20240610)");
  EXPECT_FALSE(site.maintenance_file_present(ls->blue));
  EXPECT_EQ(forum_posts(site, ls->blue), posts_before) << "blue's data is as it was at the cutover";
  EXPECT_EQ(site.state()->live_set, ls->blue);
  EXPECT_FALSE(site.web_running(green)) << "green is stopped and kept";
  EXPECT_TRUE(site.set_exists(green));
  EXPECT_EQ(run_binary("status --json --config " + ls->config_file, &out), 0);
  auto js = nlohmann::json::parse(out);
  EXPECT_EQ(js["live_set"], ls->blue);
  EXPECT_EQ(js["last_operation"]["outcome"], "ok");
}

TEST_P(LifecycleTest, AFailedUpgradeAbortsAndBlueServesAgain) {
  SiteCleanup cleanup;
  auto ls = make_site(cleanup, GetParam(), 18190 + static_cast<int>(GetParam()));
  std::string failing = ls->release("4.5.0", {"fail_at=mod_quiz"});
  std::string out;
  EXPECT_EQ(run_binary("cutover --config " + ls->config_file + " --target " + failing, &out), 1) << out;
  EXPECT_NE(out.find("cutover FAILED at step 'upgrade'"), std::string::npos) << out;
  EXPECT_NE(out.find("mod_quiz"), std::string::npos) << out;
  EXPECT_EQ(ls->served_release(), "4.4.1 (Build: 20240610)");
  EXPECT_FALSE(ls->site->maintenance_file_present(ls->blue));
  EXPECT_EQ(ls->site->cli(ls->blue).cfg_get("cron_enabled"), "1");
  EXPECT_EQ(ls->site->state()->live_set, ls->blue);
  // Green is kept, half-upgraded, for diagnosis.
  int kept = 0;
  for (auto& e : fs::directory_iterator(ls->cfg.sets_dir())) kept += e.path().filename() != ls->blue;
  EXPECT_EQ(kept, 1);
}

INSTANTIATE_TEST_SUITE_P(Engines, LifecycleTest, ::testing::Values(db::Kind::mariadb, db::Kind::postgresql),
                         [](const auto& p) { return std::string(db::to_string(p.param)); });

TEST(LifecycleGuardsTest, ASecondOperationIsRefusedWhileTheLockIsHeld) {
  SiteCleanup cleanup;
  auto ls = make_site(cleanup, db::Kind::mariadb, 18200);
  core::SiteLock held(ls->cfg.lock_path(), ls->cfg.site, "mupgrade rehearse");
  std::string out;
  EXPECT_EQ(run_binary("cutover --config " + ls->config_file, &out), 3) << out;
  EXPECT_NE(out.find("is busy: 'mupgrade rehearse'"), std::string::npos) << out;
  EXPECT_EQ(run_binary("status --config " + ls->config_file, &out), 0);
  EXPECT_NE(out.find("held by 'mupgrade rehearse'"), std::string::npos) << out;
}

TEST(LifecycleGuardsTest, BadConfigAndArgumentsChangeNothing) {
  std::string dir = scratch_dir();
  std::ofstream(dir + "/bad.yml") << "site: x\npublic_url: ftp://nope\n";
  std::string out;
  EXPECT_EQ(run_binary("cutover --config " + dir + "/bad.yml", &out), 2) << out;
  EXPECT_NE(out.find("bad.yml:2:13: 'public_url' must be an http:// or https:// URL"), std::string::npos) << out;
  EXPECT_EQ(run_binary("cutover --config " + dir + "/missing.yml", &out), 2) << out;
  EXPECT_NE(out.find("cannot read site config"), std::string::npos) << out;
  EXPECT_EQ(run_binary("cutover", &out), 2) << out;
  EXPECT_EQ(run_binary("rollback --bogus", &out), 2) << out;
}

// kill -9 right after each step of a cutover; `status` must tell where it stopped, and
// `rollback` (before the switch) or `cutover --resume` (after it) must leave a serving site.
TEST(LifecycleCrashTest, KillNineAtEveryStepBoundaryIsRecovered) {
  SiteCleanup cleanup;
  auto ls = make_site(cleanup, db::Kind::mariadb, 18210);
  std::vector<std::string> names;
  {
    ops::CutoverContext ctx;
    ctx.blue = ls->blue;
    ctx.green = "x";
    ctx.target_code = ls->cfg.target_code;
    for (auto& s : ops::cutover_steps(*ls->site, ctx)) names.push_back(s.name);
  }
  bool switched = false;
  for (const auto& step : names) {
    switched = switched || step == "switch-proxy";
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // set ids have one-second resolution
    std::string out;
    int rc = sh("MUPGRADE_CRASH_AFTER_STEP=" + step + " " + MUPGRADE_BINARY + " cutover --config " + ls->config_file, &out);
    EXPECT_NE(rc, 0) << step << ": " << out;
    EXPECT_EQ(run_binary("status --config " + ls->config_file, &out), 0);
    bool last = step == names.back();
    if (!last) {
      EXPECT_NE(out.find("INTERRUPTED"), std::string::npos) << step << ": " << out;
    }
    if (!switched) {
      EXPECT_EQ(run_binary("rollback --config " + ls->config_file, &out), 0) << step << ": " << out;
      EXPECT_EQ(ls->served_release(), "4.4.1 (Build: 20240610)") << "after a crash at " << step;
      EXPECT_FALSE(ls->site->maintenance_file_present(ls->blue)) << step;
      EXPECT_EQ(ls->site->cli(ls->blue).cfg_get("cron_enabled"), "1") << step;
    } else {
      EXPECT_EQ(run_binary("cutover --resume --config " + ls->config_file, &out), 0) << step << ": " << out;
      EXPECT_EQ(ls->served_release(), "4.4.3 (Build: 20240902)") << "after a crash at " << step;
      EXPECT_EQ(ls->site->state()->rollback_set, ls->blue) << step;
      EXPECT_EQ(run_binary("rollback --discard-writes --config " + ls->config_file, &out), 0) << step << ": " << out;
      EXPECT_EQ(ls->served_release(), "4.4.1 (Build: 20240610)") << step;
    }
  }
}
