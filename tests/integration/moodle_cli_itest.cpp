// The Moodle CLI adapter against the stand-in on real PHP, MariaDB and PostgreSQL.

#include "fixtures.hpp"

#include "mupgrade/btrfs/btrfs.hpp"
#include "mupgrade/core/set_layout.hpp"
#include "mupgrade/http/http_client.hpp"
#include "mupgrade/moodle/moodle_cli.hpp"
#include "mupgrade/moodle/upgrade_output.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <future>
#include <thread>

using namespace mupgrade;
using namespace mupgrade::itest;
namespace fs = std::filesystem;

class MoodleCliTest : public ::testing::TestWithParam<db::Kind> {
protected:
  // A second code tree at `release` with the site's config.php, served by a new container:
  // how a green set meets the blue DB.
  std::string green_web(Cleanup& cleanup, const StandinSite& site, const std::string& release,
                        const std::vector<std::string>& args = {}) {
    std::string code = make_subvolume(cleanup, "code2");
    make_release(release, code, args);
    fs::copy_file(site.code + "/config.php", code + "/config.php");
    bool pub = fs::exists(code + "/public/version.php");
    return start_web(cleanup, site.network, code, site.moodledata, "green", nullptr, pub);
  }
};

TEST_P(MoodleCliTest, MaintenanceModeTurnsTheSiteInto503AndBack) {
  Cleanup cleanup;
  auto site = start_standin(cleanup, GetParam(), "4.4.1");
  moodle::MoodleCli cli(engine(), site.web, moodle::MoodleCli::detect_layout(engine(), site.web));
  std::string url = "http://127.0.0.1:" + std::to_string(site.web_port) + "/login/index.php";
  EXPECT_EQ(http::get(url, site.host).status, 200);
  EXPECT_FALSE(cli.maintenance_enabled());
  cli.maintenance_enable();
  EXPECT_TRUE(cli.maintenance_enabled());
  EXPECT_TRUE(fs::exists(site.moodledata + "/climaintenance.html"));
  auto r = http::get(url, site.host);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.headers["retry-after"], "300");
  EXPECT_EQ(r.headers["x-mupgrade-set"], site.set_name);
  cli.maintenance_disable();
  EXPECT_EQ(http::get(url, site.host).status, 200);
}

TEST_P(MoodleCliTest, UpgradesToTheNextReleaseWithLiveProgress) {
  Cleanup cleanup;
  auto site = start_standin(cleanup, GetParam(), "4.4.1");
  moodle::MoodleCli blue(engine(), site.web, moodle::MoodleCli::detect_layout(engine(), site.web));
  EXPECT_EQ(blue.upgrade_pending(), moodle::PendingState::up_to_date);

  // A page on the live site: Moodle's caches are built.
  EXPECT_EQ(http::get("http://127.0.0.1:" + std::to_string(site.web_port) + "/login/index.php", site.host).status, 200);
  ASSERT_TRUE(fs::exists(site.moodledata + "/cache/standin-muc-built"));

  std::string web = green_web(cleanup, site, "4.5.0");
  moodle::MoodleCli green(engine(), web, moodle::MoodleCli::detect_layout(engine(), web));
  EXPECT_FALSE(green.layout().public_dir);
  EXPECT_EQ(green.upgrade_pending(), moodle::PendingState::pending);
  std::vector<std::string> components;
  auto result = green.upgrade([&](const moodle::UpgradeProgress& p) {
    if (components.empty() || components.back() != p.component) components.push_back(p.component);
  });
  ASSERT_TRUE(result.ok) << result.output;
  EXPECT_TRUE(result.summary.completed);
  // Real upgrade.php names each release with its version: "4.3 (Build: 20231009) (2023100900)".
  EXPECT_EQ(result.summary.from_release, "4.4.1 (Build: 20240610) (2024042201)");
  EXPECT_EQ(result.summary.to_release, "4.5 (Build: 20241007) (2024100700.01)");
  EXPECT_EQ(components.front(), "core");
  EXPECT_NE(std::find(components.begin(), components.end(), "mod_quiz"), components.end());
  EXPECT_EQ(green.upgrade_pending(), moodle::PendingState::up_to_date);
  EXPECT_FALSE(green.schema_differences()) << *green.schema_differences();
  EXPECT_EQ(green.checks("upgradecheck").level, moodle::CheckLevel::ok);
  EXPECT_EQ(green.cfg_get("release"), "4.5 (Build: 20241007)");

  // Real upgrade.php purged Moodle's caches as it exited: the next page rebuilds them, once.
  EXPECT_FALSE(fs::exists(site.moodledata + "/cache/standin-muc-built")) << "the caches survived the upgrade";
  std::string cold_log = site.moodledata + "/standin-cold-pages.log";
  std::string before = read_file(cold_log);
  int green_port = engine().inspect_container(web)->host_ports.at(80);
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(http::get("http://127.0.0.1:" + std::to_string(green_port) + "/login/index.php", site.host).status, 200);
  std::string rebuilds = read_file(cold_log).substr(before.size());
  EXPECT_EQ(std::count(rebuilds.begin(), rebuilds.end(), '\n'), 1) << "two pages after the upgrade rebuilt: [" << rebuilds << "]";

  docker::ExecOptions fill;
  fill.cmd = {"mkdir", "-p", "/var/www/moodledata/cache/x", "/var/www/moodledata/localcache/y"};
  fill.user = "www-data";  // as Moodle itself writes its caches
  ASSERT_EQ(engine().exec(web, fill).exit_code, 0);
  green.purge_caches();
  EXPECT_TRUE(fs::is_empty(site.moodledata + "/cache"));
  EXPECT_TRUE(fs::is_empty(site.moodledata + "/localcache"));

  // The old code now refuses the newer DB: Moodle's downgrade protection.
  EXPECT_EQ(blue.upgrade_pending(), moodle::PendingState::downgrade_refused);
}

// A real site's local plugin (local_corechanges) adds a dozen columns to the core table user
// when the upgrade installs it; check_database_schema.php then lists them as not expected.
TEST_P(MoodleCliTest, ColumnsAPluginAddsToACoreTableShowAsExtrasInTheSchemaCheck) {
  Cleanup cleanup;
  auto site = start_standin(cleanup, GetParam(), "4.4.1");
  std::string web = green_web(cleanup, site, "4.5.0", {"--knob", "plugin_adds_columns=user.degree,user.gender"});
  moodle::MoodleCli green(engine(), web, moodle::MoodleCli::detect_layout(engine(), web));
  auto result = green.upgrade();
  ASSERT_TRUE(result.ok) << result.output;
  auto diff = green.schema_differences();
  ASSERT_TRUE(diff);
  auto items = moodle::parse_schema_differences(*diff);
  ASSERT_EQ(items.size(), 2u) << *diff;
  EXPECT_EQ(items[0].table, "user");
  EXPECT_EQ(items[0].what, "column 'degree' is not expected (C)");
  EXPECT_TRUE(items[0].extra && items[1].extra) << *diff;
}

// upgrade.php runs with OPcache on (scripts compiled once per run), checking timestamps on every
// include, because upgrade.php rewrites PHP files it includes again, and without opcache_reset(),
// which Moodle calls throughout the upgrade (4.3 -> 4.5.6 on real code: 17 s against 28 s); the
// other runs keep the image's CLI settings (OPcache off).
TEST_P(MoodleCliTest, UpgradePhpRunsWithOpcacheCheckingChangedFilesAndNoCycleCollector) {
  Cleanup cleanup;
  auto site = start_standin(cleanup, GetParam(), "4.4.1");
  std::string web = green_web(cleanup, site, "4.5.0", {"--knob", "record_cli_php=1"});
  moodle::MoodleCli green(engine(), web, moodle::MoodleCli::detect_layout(engine(), web));
  EXPECT_EQ(green.upgrade_pending(), moodle::PendingState::pending);
  auto result = green.upgrade();
  ASSERT_TRUE(result.ok) << result.output;
  ports::ExecOptions cat;
  cat.cmd = {"cat", "/var/www/moodledata/standin-cli-php.log"};
  auto log = engine().exec(web, cat);
  ASSERT_EQ(log.exit_code, 0) << log.err;
  EXPECT_NE(log.out.find("upgrade.php --is-pending opcache_enabled=0"), std::string::npos) << log.out;
  auto pending = log.out.substr(log.out.find("upgrade.php --is-pending"));
  EXPECT_NE(pending.substr(0, pending.find('\n')).find("gc_enabled=1"), std::string::npos) << "only the upgrade runs without the cycle collector: " << log.out;
  EXPECT_NE(pending.substr(0, pending.find('\n')).find("opcache_reset=1"), std::string::npos) << log.out;
  // Real Moodle resets OPcache at upgrade.php's start and at each reset of its string and plugin
  // caches: the upgrade's OPcache would be empty most of the run.
  EXPECT_NE(log.out.find("upgrade.php --non-interactive --lang=en opcache_enabled=1 validate_timestamps=1 revalidate_freq=0 gc_enabled=0 opcache_reset=0\n"),
            std::string::npos)
      << log.out;
}

// Real Moodle's bootstrap costs each CLI run 1-2.5 s; the stand-in's costs nothing unless told
// (knob cli_bootstrap_ms), and records each run, so runs asked at once can be seen overlapping.
TEST_P(MoodleCliTest, TheBootstrapKnobCostsEachCliRunItsTimeAndRecordsIt) {
  Cleanup cleanup;
  auto site = start_standin(cleanup, GetParam(), "4.4.1");
  std::string web = green_web(cleanup, site, "4.5.0", {"--knob", "cli_bootstrap_ms=400"});
  auto layout = moodle::MoodleCli::detect_layout(engine(), web);
  auto a = std::async(std::launch::async, [&] { return moodle::MoodleCli(engine(), web, layout).upgrade_pending(); });
  auto b = std::async(std::launch::async, [&] { return moodle::MoodleCli(engine(), web, layout).schema_differences(); });
  EXPECT_EQ(a.get(), moodle::PendingState::pending);
  b.get();
  ports::ExecOptions cat;
  cat.cmd = {"cat", "/var/www/moodledata/standin-cli-runs.log"};
  auto log = engine().exec(web, cat);
  ASSERT_EQ(log.exit_code, 0) << log.err;
  std::istringstream in(log.out);
  std::vector<std::pair<double, double>> runs;
  for (double start, end; in >> start >> end;) {
    std::string script;
    in >> script;
    runs.push_back({start, end});
    EXPECT_GE(end - start, 0.4) << "a run shorter than its bootstrap: " << script;
  }
  ASSERT_EQ(runs.size(), 2u) << log.out;
  EXPECT_LT(std::max(runs[0].first, runs[1].first), std::min(runs[0].second, runs[1].second)) << "the two runs did not overlap: " << log.out;
}

TEST_P(MoodleCliTest, AFailedUpgradeIsReportedWithItsComponentAndLeavesTheDbHalfUpgraded) {
  Cleanup cleanup;
  auto site = start_standin(cleanup, GetParam(), "4.4.1");
  std::string web = green_web(cleanup, site, "4.5.0", {"--knob", "fail_at=mod_quiz"});
  moodle::MoodleCli green(engine(), web, moodle::MoodleCli::detect_layout(engine(), web));
  auto result = green.upgrade();
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.summary.last_component, "mod_quiz");
  EXPECT_NE(result.summary.error.find("mod_quiz"), std::string::npos) << result.summary.error;
  auto c = db::connect(site.db.endpoint);
  EXPECT_EQ(c->scalar("SELECT COUNT(*) FROM mdl_upgrade_log WHERE type = 2 AND plugin = 'mod_quiz'"), "1");
  EXPECT_EQ(c->scalar("SELECT value FROM mdl_config WHERE name = 'release'"), "4.5 (Build: 20241007)")
      << "core was upgraded before the failure: the upgrade is not atomic";
  EXPECT_EQ(green.checks().level, moodle::CheckLevel::critical);
}

TEST_P(MoodleCliTest, ARefusedEnvironmentIsReported) {
  Cleanup cleanup;
  auto site = start_standin(cleanup, GetParam(), "4.1.5");
  std::string web = green_web(cleanup, site, "4.1.10");
  moodle::MoodleCli green(engine(), web, moodle::MoodleCli::detect_layout(engine(), web));
  EXPECT_EQ(green.upgrade_pending(), moodle::PendingState::pending);
  auto result = green.upgrade();
  EXPECT_FALSE(result.ok);
  EXPECT_TRUE(result.summary.environment_failed);
  EXPECT_NE(result.summary.environment_problems.find("php"), std::string::npos);
}

// cron.php --disable-wait that runs out of time says "Wait time (1 sec) elapsed, but 1 task(s)
// still running." and exits 1, as real Moodle does: a drain that timed out, not a broken script.
TEST_P(MoodleCliTest, ACronDrainThatRunsOutOfTimeIsToldApartFromAFailure) {
  Cleanup cleanup;
  auto site = start_standin(cleanup, GetParam(), "4.4.1", {"cron_seconds=6"});
  moodle::MoodleCli cli(engine(), site.web, moodle::MoodleCli::detect_layout(engine(), site.web));
  cli.cron_enable();
  auto task = std::async(std::launch::async, [&] { return cli.run("cron", {}, std::chrono::seconds(60)); });
  auto c = db::connect(site.db.endpoint);
  for (int i = 0; i < 100 && c->scalar("SELECT COUNT(*) FROM mdl_config WHERE name = 'standin_cron_running'") != "1"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(cli.cron_disable_wait(std::chrono::seconds(1)));
  auto run = task.get();
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_TRUE(cli.cron_disable_wait(std::chrono::seconds(5)));
}

// upgrade.php --is-maintenance-required (Moodle 4.2+): exit 2 "This upgrade WILL result in
// maintenance mode for users.", exit 3 "... WILL NOT ..."; the stand-in answers by its knob.
TEST_P(MoodleCliTest, UpgradePhpSaysWhetherTheUpgradeNeedsMaintenance) {
  Cleanup cleanup;
  auto site = start_standin(cleanup, GetParam(), "4.4.1");
  moodle::MoodleCli blue(engine(), site.web, moodle::MoodleCli::detect_layout(engine(), site.web));
  EXPECT_EQ(blue.maintenance_required(), false) << "nothing pending";
  std::string web = green_web(cleanup, site, "4.4.3");
  moodle::MoodleCli green(engine(), web, moodle::MoodleCli::detect_layout(engine(), web));
  EXPECT_EQ(green.maintenance_required(), true);
  auto r = green.run("upgrade", {"--is-maintenance-required"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "An upgrade is pending\n");
  EXPECT_EQ(r.err, "This upgrade WILL result in maintenance mode for users.\n");
  std::string quiet = green_web(cleanup, site, "4.4.3", {"--knob", "maintenance_required=0"});
  moodle::MoodleCli green2(engine(), quiet, moodle::MoodleCli::detect_layout(engine(), quiet));
  EXPECT_EQ(green2.maintenance_required(), false);
  EXPECT_EQ(green2.run("upgrade", {"--is-maintenance-required"}).exit_code, 3);
  EXPECT_EQ(green.upgrade_pending(), moodle::PendingState::pending) << "asking changed nothing";
}

// An add-on installed on the live site whose code the target lacks: uninstall_plugins.php
// --show-missing lists it ("component<TAB>name"), as real Moodle does.
TEST_P(MoodleCliTest, AnAddOnMissingFromTheTargetIsListedByShowMissing) {
  Cleanup cleanup;
  auto site = start_standin(cleanup, GetParam(), "4.4.1", {}, {"--add-plugin", "local_extra"});
  moodle::MoodleCli blue(engine(), site.web, moodle::MoodleCli::detect_layout(engine(), site.web));
  EXPECT_TRUE(blue.missing_plugins().empty());
  std::string web = green_web(cleanup, site, "4.4.3");
  moodle::MoodleCli green(engine(), web, moodle::MoodleCli::detect_layout(engine(), web));
  EXPECT_EQ(green.missing_plugins(), std::vector<std::string>{"local_extra"});
  EXPECT_EQ(green.run("uninstall_plugins", {"--show-missing"}).out, "local_extra\tlocal_extra\n");
}

// A plugin whose $plugin->requires is above the new core: upgrade.php's plugin check refuses
// the release ("Dependencies check failed for ..."), before its question and before any change.
TEST_P(MoodleCliTest, APluginTheReleaseRefusesIsNamedBeforeAnyChange) {
  Cleanup cleanup;
  auto site = start_standin(cleanup, GetParam(), "4.4.1");
  std::string web = green_web(cleanup, site, "4.4.3", {"--plugin-requires", "local_standin=2099010100"});
  moodle::MoodleCli green(engine(), web, moodle::MoodleCli::detect_layout(engine(), web));
  EXPECT_EQ(green.refused_plugins(), std::vector<std::string>{"local_standin"});
  EXPECT_EQ(green.upgrade_pending(), moodle::PendingState::pending) << "the check changed nothing";
  auto result = green.upgrade();
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(moodle::plugins_failing_dependencies(result.output), std::vector<std::string>{"local_standin"}) << result.output;
  std::string fine = green_web(cleanup, site, "4.4.3");
  moodle::MoodleCli ok(engine(), fine, moodle::MoodleCli::detect_layout(engine(), fine));
  EXPECT_TRUE(ok.refused_plugins().empty());
  EXPECT_EQ(ok.upgrade_pending(), moodle::PendingState::pending) << "answering 'n' changed nothing";
}

// A site installed with a local plugin that adds columns to a core table has that drift before
// any upgrade: the live code's schema check already lists it.
TEST_P(MoodleCliTest, ALocalPluginsColumnsAreDriftTheLiveSiteAlreadyHas) {
  Cleanup cleanup;
  auto site = start_standin(cleanup, GetParam(), "4.4.1", {"plugin_adds_columns=user.degree"});
  moodle::MoodleCli blue(engine(), site.web, moodle::MoodleCli::detect_layout(engine(), site.web));
  auto diff = blue.schema_differences();
  ASSERT_TRUE(diff);
  auto items = moodle::parse_schema_differences(*diff);
  ASSERT_EQ(items.size(), 1u) << *diff;
  EXPECT_EQ(items[0].table, "user");
  EXPECT_EQ(items[0].what, "column 'degree' is not expected (C)");
}

INSTANTIATE_TEST_SUITE_P(Engines, MoodleCliTest, ::testing::Values(db::Kind::mariadb, db::Kind::postgresql),
                         [](const auto& p) { return std::string(db::to_string(p.param)); });

TEST(MoodleCliLayoutTest, FindsTheCliUnderPublicFromMoodle51) {
  Cleanup cleanup;
  auto site = start_standin(cleanup, db::Kind::mariadb, "5.1.0");
  auto layout = moodle::MoodleCli::detect_layout(engine(), site.web);
  EXPECT_TRUE(layout.public_dir);
  moodle::MoodleCli cli(engine(), site.web, layout);
  EXPECT_EQ(cli.cfg_get("release"), "5.1 (Build: 20251006)");
  EXPECT_EQ(http::get("http://127.0.0.1:" + std::to_string(site.web_port) + "/login/index.php", site.host).status, 200);
}

TEST(MoodleCliErrorsTest, SettingsAndCronFollowTheContract) {
  Cleanup cleanup;
  auto site = start_standin(cleanup, db::Kind::mariadb, "4.4.1");
  moodle::MoodleCli cli(engine(), site.web, moodle::MoodleCli::detect_layout(engine(), site.web));
  EXPECT_FALSE(cli.cfg_get("no_such_setting"));
  cli.cfg_set("mupgrade_test", "42");
  EXPECT_EQ(cli.cfg_get("mupgrade_test"), "42");
  cli.cfg_set("flag", "1", "local_standin");
  EXPECT_EQ(cli.cfg_get("flag", "local_standin"), "1");
  EXPECT_THROW(cli.cfg_set("dbhost", "elsewhere"), moodle::MoodleCliError);
  EXPECT_TRUE(cli.cron_disable_wait(std::chrono::seconds(5)));
  cli.cron_enable();

  // A stopped DB: every script fails at bootstrap, and the error says so.
  engine().stop_container(site.db.container, std::chrono::seconds(10));
  try {
    cli.maintenance_enable();
    FAIL() << "expected MoodleCliError";
  } catch (const moodle::MoodleCliError& e) {
    EXPECT_NE(std::string(e.what()).find("Database connection failed"), std::string::npos) << e.what();
    EXPECT_FALSE(e.hint().empty());
  }
}

// The web image's OPcache file cache contract (containers/web/entrypoint), on real Apache and
// PHP, shown without timing: a cache mupgrade marks fresh is filled by the first container to
// start on it (the rehearsal's clone); a snapshot of it, marked fresh again, is loaded by the
// next (green): changed after the fill, a script still runs as compiled, which proves the load.
// config.php (set-specific, with the DB password) is never cached, and a container's later
// start (the code may have been edited since) compiles afresh.
TEST(WebImageOpcacheTest, AFreshCacheIsFilledByTheFirstStartAndLoadedByTheNextSetsFirstStartOnly) {
  Cleanup cleanup;
  const std::string mount = "/var/cache/mupgrade/opcache";
  ASSERT_EQ(engine().image("mupgrade/web:php8.2")->labels.at(core::kOpcacheFileCacheLabel), mount) << "the label says where the cache goes";
  std::string code = make_subvolume(cleanup, "code"), filled = make_subvolume(cleanup, "opcache");
  // A release's files are old: OPcache caches nothing changed in the last 2 s
  // (opcache.file_update_protection).
  auto write_old = [](const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
    fs::last_write_time(path, fs::file_time_type::clock::now() - std::chrono::hours(1));
  };
  write_old(code + "/probe.php", "<?php echo 'as compiled';\n");
  write_old(code + "/config.php", "<?php echo 'config of the clone';\n");
  std::ofstream(filled + "/" + core::kOpcacheFreshMarker);
  auto start = [&](const std::string& cache) {
    docker::ContainerSpec web;
    web.name = unique_name("web");
    web.image = "mupgrade/web:php8.2";
    web.labels = {{"mupgrade.test", "1"}};
    web.mounts = {{code, core::kContainerCodeRoot, true}};
    if (!cache.empty()) web.mounts.push_back({cache, mount, false});
    web.ports = {{80, 0, "127.0.0.1"}};
    std::string id = engine().create_container(web);
    cleanup.container(id);
    engine().start_container(id);
    return id;
  };
  auto get = [&](const std::string& id, const std::string& path) {
    std::string base = "http://127.0.0.1:" + std::to_string(engine().inspect_container(id)->host_ports.at(80));
    http::Response r;
    for (int i = 0; i < 500 && (r = http::get(base + path, "localhost")).status != 200; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return r.body;
  };
  auto entries = [](const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.is_regular_file()) out.push_back(e.path().string());
    return out;
  };

  std::string clone = start(filled);
  EXPECT_EQ(get(clone, "/probe.php"), "as compiled");
  EXPECT_EQ(get(clone, "/config.php"), "config of the clone");
  auto kept = entries(filled);
  ASSERT_EQ(kept.size(), 1u) << "probe.php's entry alone: config.php is never cached, the marker is taken";
  EXPECT_TRUE(kept[0].ends_with("/var/www/moodle/probe.php.bin")) << kept[0];

  write_old(code + "/probe.php", "<?php echo 'changed';\n");
  write_old(code + "/config.php", "<?php echo 'config of green';\n");
  std::string seeded = filled + "-green";
  cleanup.subvolume(seeded);
  btrfs::snapshot(filled, seeded);
  std::ofstream(seeded + "/" + core::kOpcacheFreshMarker);
  std::string green = start(seeded);
  EXPECT_EQ(get(green, "/probe.php"), "as compiled") << "green's Apache compiled the source itself instead of loading the kept entry";
  EXPECT_EQ(get(green, "/config.php"), "config of green");
  EXPECT_FALSE(fs::exists(seeded + "/" + core::kOpcacheFreshMarker));

  engine().stop_container(green, std::chrono::seconds(5));
  engine().start_container(green);
  EXPECT_EQ(get(green, "/probe.php"), "changed") << "a later start loaded the kept entries";
  EXPECT_EQ(get(start(""), "/probe.php"), "changed") << "without the cache the change shows (the test's control)";
}
