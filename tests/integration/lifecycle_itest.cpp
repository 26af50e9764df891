// The blue-green lifecycle on real components: plan, cutover, rollback with its write guard,
// an upgrade failure that aborts with blue serving, the site lock, bad config, and kill -9
// at every step boundary of a cutover followed by recovery.

#include "fixtures.hpp"
#include "site_fixture.hpp"

#include "mupgrade/btrfs/btrfs.hpp"
#include "mupgrade/core/journal.hpp"
#include "mupgrade/core/site_lock.hpp"
#include "mupgrade/http/http_client.hpp"
#include "mupgrade/proxy/proxy.hpp"
#include "mupgrade/ops/operations.hpp"
#include "mupgrade/ops/plans.hpp"
#include "mupgrade/db/durability.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

using namespace mupgrade;
using namespace mupgrade::itest;
namespace fs = std::filesystem;

namespace {


double now_epoch() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

/// A node_exporter textfile's samples by metric name (labels dropped); fails the test when it is missing.
std::map<std::string, double> read_metrics(const std::string& path) {
  std::map<std::string, double> m;
  std::ifstream in(path);
  EXPECT_TRUE(in) << path << " was not written";
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto brace = line.find('{'), close = line.rfind('}');
    if (brace == std::string::npos || close == std::string::npos) continue;
    m[line.substr(0, brace)] = std::stod(line.substr(close + 1));
  }
  return m;
}

long forum_posts(ops::Site& site, const std::string& set) {
  auto ep = site.db_endpoint(set);
  return std::stol(db::connect(ep)->scalar("SELECT COUNT(*) FROM mdl_forum_posts").value_or("-1"));
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
  // The cutover's textfile, beside the rehearsal's, with sane values.
  std::string prom = core::operation_textfile(ls->cfg.textfile(), "cutover");
  auto metrics = read_metrics(prom);
  EXPECT_EQ(metrics["mupgrade_cutover_success"], 1) << prom;
  EXPECT_EQ(metrics["mupgrade_cutover_rollback_target_present"], 1);
  EXPECT_EQ(metrics["mupgrade_cutover_switched"], 1);
  EXPECT_NEAR(metrics["mupgrade_cutover_last_run_timestamp_seconds"], now_epoch(), 600);
  EXPECT_EQ(metrics["mupgrade_cutover_last_success_timestamp_seconds"], metrics["mupgrade_cutover_last_run_timestamp_seconds"]);
  EXPECT_GT(metrics["mupgrade_cutover_window_seconds"], 0.1);
  EXPECT_LT(metrics["mupgrade_cutover_window_seconds"], 300);
  // Measured, not left at 0: the stand-in's upgrade.php (no sleep knob here) takes 0.09-0.3 s of
  // real DB work, so no floor above zero would hold on a fast host.
  EXPECT_GT(metrics["mupgrade_cutover_upgrade_seconds"], 0.0);
  EXPECT_LT(metrics["mupgrade_cutover_upgrade_seconds"], metrics["mupgrade_cutover_window_seconds"]);
  EXPECT_NEAR(metrics["mupgrade_cutover_overhead_seconds"],
              metrics["mupgrade_cutover_window_seconds"] - metrics["mupgrade_cutover_upgrade_seconds"], 1e-3);
  EXPECT_GE(metrics["mupgrade_cutover_duration_seconds"], metrics["mupgrade_cutover_window_seconds"]);
  // upgrade.php built the theme last (Moodle >= 4.4); nothing threw it away before the switch,
  // so green's first page was not cold.
  std::string themerev = site.cli(green).cfg_get("themerev").value_or("(unset)");
  EXPECT_TRUE(fs::exists(fmt::format("{}/localcache/theme/{}/boost/css/all.css", site.paths(green).moodledata, themerev)))
      << "green's theme cache (themerev " << themerev << ") is gone";

  // A write on green: rollback must say so and refuse without --discard-writes.
  auto w = http::get(ls->cfg.proxy.url + "/local/standin/write.php", ls->cfg.public_host);
  ASSERT_EQ(w.status, 200);
  EXPECT_EQ(run_binary("rollback --config " + ls->config_file, &out), 1) << out;
  EXPECT_NE(out.find("1 new rows in mdl_forum_posts"), std::string::npos) << out;
  EXPECT_NE(out.find("--discard-writes"), std::string::npos) << out;
  EXPECT_EQ(ls->served_release(), "4.4.3 (Build: 20240902)") << "a refused rollback changes nothing";

  // --json: stdout holds the result alone (progress goes to stderr).
  EXPECT_EQ(sh(fmt::format("{{ {} rollback --discard-writes --json --config {} 2>/dev/null; }}", MUPGRADE_BINARY, ls->config_file), &out), 0) << out;
  auto result = nlohmann::json::parse(out);
  EXPECT_EQ(result["version"], core::kJsonResultVersion);
  EXPECT_EQ(result["command"], "rollback");
  EXPECT_EQ(result["ok"], true);
  EXPECT_EQ(result["record"]["to_set"], ls->blue);
  EXPECT_EQ(ls->served_release(), "4.4.1 (Build: 20240610)");
  auto rb = read_metrics(core::operation_textfile(ls->cfg.textfile(), "rollback"));
  EXPECT_EQ(rb["mupgrade_rollback_success"], 1);
  EXPECT_EQ(rb["mupgrade_rollback_rollback_target_present"], 0) << "a rollback uses up the way back";
  EXPECT_GT(rb["mupgrade_rollback_window_seconds"], 0);
  EXPECT_LT(rb["mupgrade_rollback_window_seconds"], 60);
  EXPECT_EQ(read_metrics(prom)["mupgrade_cutover_success"], 1) << "the rollback leaves the cutover's textfile alone";
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
  EXPECT_NE(out.find("mupgrade: error: cutover failed at step 'upgrade'"), std::string::npos) << out;
  EXPECT_NE(out.find("serves again (seen through the public URL)"), std::string::npos) << out;
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

// A rehearsal proved the checks and pages on the same code: the cutover's window does not wait
// for green's first page, which is rendered right after the switch. When it fails there (a page
// error that only green shows, made by a site step run right after the switch), users get blue
// back, the switch undone first; a cutover without the fault then serves green.
TEST(LifecycleFirstPageTest, GreensFirstPageAfterTheSwitchGivesBlueBackWhenItFails) {
  SiteCleanup cleanup;
  std::string flag = scratch_dir() + "/break-green-" + std::to_string(::getpid());
  fs::remove(flag);
  auto ls = make_site(cleanup, db::Kind::mariadb, 19010, fmt::format(R"(steps:
  - name: break-green
    after: switch-proxy
    operations: [cutover]
    host: [/bin/sh, -c, 'if [ -e {} ]; then echo "login_status = 500" > "$MUPGRADE_CODE/standin-knobs.ini"; fi']
)", flag));
  auto& site = *ls->site;
  std::string out;
  ASSERT_EQ(run_binary("rehearse --config " + ls->config_file, &out), 0) << out;
  std::ofstream(flag) << "1\n";
  EXPECT_EQ(run_binary("cutover --config " + ls->config_file, &out), 1) << out;
  EXPECT_NE(out.find("cutover failed at step 'green-first-page'"), std::string::npos) << out;
  EXPECT_NE(out.find("HTTP 500"), std::string::npos) << out;
  EXPECT_EQ(ls->served_release(), "4.4.1 (Build: 20240610)") << "blue serves again";
  EXPECT_FALSE(site.maintenance_file_present(ls->blue));
  EXPECT_EQ(site.cli(ls->blue).cfg_get("cron_enabled"), "1");
  EXPECT_EQ(site.state()->live_set, ls->blue);
  auto failed = core::read_journal(site.last_journal_path());
  ASSERT_TRUE(failed.find("health-check"));
  EXPECT_TRUE(failed.find("health-check")->facts.contains("after_switch")) << "the window waited for the page";
  ASSERT_TRUE(failed.find(ops::step::switch_proxy));
  EXPECT_TRUE(failed.find(ops::step::switch_proxy)->undone) << "the switch was undone";
  EXPECT_EQ(failed.outcome, "failed");

  fs::remove(flag);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // set ids have one-second resolution
  ASSERT_EQ(run_binary("cutover --config " + ls->config_file, &out), 0) << out;
  EXPECT_EQ(ls->served_release(), "4.4.3 (Build: 20240902)");
  auto done = core::read_journal(site.last_journal_path());
  ASSERT_TRUE(done.find(ops::step::green_first_page));
  EXPECT_GT(done.find(ops::step::green_first_page)->facts.value("first_page_s", 0.0), 0) << "rendered after the switch";
  EXPECT_TRUE(done.find("health-check")->facts.contains("after_switch"));
  fs::remove(flag);
}

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
  std::vector<std::string> names = ls->step_names("cutover");
  bool switched = false;
  for (const auto& step : names) {
    switched = switched || step == "switch-proxy";
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // set ids have one-second resolution
    std::string out;
    EXPECT_TRUE(crashes_after_step(ls->cfg.state_dir, step, "cutover --config " + ls->config_file, &out));
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

// nginx in front: during the window the proxy answers Moodle's 503 itself (blue's PHP gets
// nothing), the hold reports blue's requests drained, and a hold left by a cutover killed
// right after it is released by the rollback that recovers.
TEST(LifecycleNginxTest, TheWindowIsHeldAtTheProxyAndAKilledHoldIsRecovered) {
  SiteCleanup cleanup;
  SiteOptions opts;
  opts.proxy = core::ProxyKind::nginx;
  auto ls = make_site(cleanup, db::Kind::mariadb, 18860, "", opts);
  ASSERT_EQ(ls->served_release(), "4.4.1 (Build: 20240610)");
  std::string out;
  EXPECT_TRUE(crashes_after_step(ls->cfg.state_dir, "hold-traffic", "cutover --config " + ls->config_file, &out));
  auto held = http::get(ls->cfg.proxy.url + "/login/index.php", ls->cfg.public_host);
  EXPECT_EQ(held.status, 503);
  EXPECT_EQ(held.headers["retry-after"], "300");
  EXPECT_EQ(held.body, proxy::maintenance_body()) << "the answer came from blue, not the proxy";
  EXPECT_EQ(run_binary("rollback --config " + ls->config_file, &out), 0) << out;
  EXPECT_EQ(ls->served_release(), "4.4.1 (Build: 20240610)") << "the hold was not released: " << out;

  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // set ids have one-second resolution
  std::atomic<bool> stop{false};
  std::atomic<int> from_proxy{0}, failed{0};
  std::thread client([&] {
    while (!stop) {
      auto r = http::get(ls->cfg.proxy.url + "/login/index.php", ls->cfg.public_host, std::chrono::seconds(10));
      if (r.status == 0) ++failed;
      if (r.status == 503 && r.body == proxy::maintenance_body()) ++from_proxy;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  int rc = run_binary("cutover --config " + ls->config_file, &out);
  stop = true;
  client.join();
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(ls->served_release(), "4.4.3 (Build: 20240902)");
  EXPECT_GT(from_proxy.load(), 0) << "no request got the proxy's own maintenance page during the window";
  EXPECT_EQ(failed.load(), 0);
  // The journal: the hold held and waited for blue's requests in flight.
  bool drained = false;
  for (const auto& e : fs::directory_iterator(ls->cfg.state_dir + "/journal")) {
    std::ifstream in(e.path());
    for (std::string line; std::getline(in, line);)
      if (line.find("\"hold-traffic\"") != std::string::npos && line.find("\"drained\":true") != std::string::npos &&
          line.find("\"held\":true") != std::string::npos) {
        drained = true;
        std::cout << "nginx hold: " << line << "\n";
      }
  }
  EXPECT_TRUE(drained) << "no journal line says the hold held and drained";
}

// kill -9 right after each step of a rollback; running `rollback` again must finish the job:
// blue serving, green stopped and kept.
TEST(LifecycleCrashTest, KillNineAtEveryRollbackStepBoundaryIsRecovered) {
  SiteCleanup cleanup;
  auto ls = make_site(cleanup, db::Kind::mariadb, 18220);
  std::vector<std::string> names = ls->step_names("rollback");
  ASSERT_GE(names.size(), 5u);
  for (const auto& step : names) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // set ids have one-second resolution
    std::string out;
    ASSERT_EQ(run_binary("cutover --config " + ls->config_file, &out), 0) << out;
    EXPECT_TRUE(crashes_after_step(ls->cfg.state_dir, step, "rollback --discard-writes --config " + ls->config_file, &out));
    if (step != names.back()) {
      EXPECT_EQ(run_binary("status --config " + ls->config_file, &out), 0);
      EXPECT_NE(out.find("INTERRUPTED"), std::string::npos) << step << ": " << out;
    }
    EXPECT_EQ(run_binary("rollback --discard-writes --config " + ls->config_file, &out), 0) << step << ": " << out;
    EXPECT_EQ(ls->served_release(), "4.4.1 (Build: 20240610)") << "after a crash at " << step << ": " << out;
    EXPECT_EQ(ls->site->state()->live_set, ls->blue) << step;
    EXPECT_FALSE(ls->site->maintenance_file_present(ls->blue)) << step;
    EXPECT_EQ(ls->site->cli(ls->blue).cfg_get("cron_enabled"), "1") << step;
  }
}

// Relaxed durability: green's DB commits without fsync during upgrade.php and is made durable
// before the switch. The DB is killed (SIGKILL) right after the switch: every upgrade write
// must be there when it comes back.
TEST_P(LifecycleTest, RelaxedDurabilityLosesNoUpgradeWriteWhenTheDbIsKilledAfterTheSwitch) {
  SiteCleanup cleanup;
  auto ls = make_site(cleanup, GetParam(), 18240 + static_cast<int>(GetParam()));
  {
    std::string text = read_file(ls->config_file);
    text.replace(text.find("db:\n"), 4, "db:\n  relaxed_durability: true\n");
    std::ofstream(ls->config_file) << text;
  }
  std::string out;
  EXPECT_TRUE(crashes_after_step(ls->cfg.state_dir, "switch-proxy", "cutover --config " + ls->config_file, &out));
  EXPECT_NE(out.find("relax-durability"), std::string::npos) << out;
  EXPECT_NE(out.find("restore-durability"), std::string::npos) << out;
  std::string green;
  for (const auto& c : engine().list_containers({{"mupgrade.site", ls->cfg.site}, {"mupgrade.role", "db"}}))
    if (c.labels.at("mupgrade.set") != ls->blue) green = c.labels.at("mupgrade.set");
  ASSERT_FALSE(green.empty());
  auto& site = *ls->site;
  auto count = [&] {
    auto c = db::connect(site.db_endpoint(green));
    return c->scalar("SELECT COUNT(*) FROM mdl_upgrade_log").value_or("") + "/" + c->scalar("SELECT value FROM mdl_config WHERE name = 'version'").value_or("") +
           "/" + c->scalar("SELECT value FROM mdl_config WHERE name = 'allversionshash'").value_or("");
  };
  std::string before = count();
  engine().kill_container(site.db_container(green), "SIGKILL");
  site.start_set(green, ls->cfg.target_image);  // the web runs on: only the DB starts
  EXPECT_EQ(count(), before) << "writes lost by the DB kill";
  EXPECT_NE(before.find("/2024042203"), std::string::npos) << before;
  EXPECT_EQ(db::durability_settings(site.db_endpoint(green)),
            GetParam() == db::Kind::mariadb ? "innodb_flush_log_at_trx_commit=1"
                                             : "synchronous_commit=on fsync=on full_page_writes=on wal_writer_delay=200ms")
      << "durability restored";
  EXPECT_EQ(run_binary("cutover --resume --config " + ls->config_file, &out), 0) << out;
  EXPECT_EQ(ls->served_release(), "4.4.3 (Build: 20240902)");
}

// Docker's default address pools leave a host room for about thirty networks: kept sets must
// not hold one each. Fifty stopped sets leave the site with its own network only, and a
// cutover and rollback still work.
TEST(LifecycleScaleTest, FiftyKeptSetsHoldNoNetworkAndNeverBlockACutover) {
  SiteCleanup cleanup;
  auto ls = make_site(cleanup, db::Kind::mariadb, 18250);
  auto& site = *ls->site;
  for (int i = 0; i < 50; ++i) {
    std::string set = fmt::format("kept-{:02}", i);
    auto p = site.paths(set);
    fs::create_directories(p.dir);
    for (const auto& sub : {p.db, p.moodledata, p.code}) btrfs::create_subvolume(sub);
    site.create_containers(set, ls->cfg.web_image);
    site.stop_set(set);
  }
  size_t networks = engine().list_networks({{"mupgrade.site", ls->cfg.site}}).size();
  EXPECT_EQ(networks, 2u) << "the site's network and the live set's, nothing for stopped sets";
  std::string out;
  EXPECT_EQ(run_binary("cutover --config " + ls->config_file, &out), 0) << out;
  EXPECT_EQ(run_binary("rollback --discard-writes --config " + ls->config_file, &out), 0) << out;
  EXPECT_EQ(ls->served_release(), "4.4.1 (Build: 20240610)");
  // The rolled-back green is stopped and holds no network either; blue serves.
  EXPECT_EQ(engine().list_networks({{"mupgrade.site", ls->cfg.site}}).size(), 2u);
}
