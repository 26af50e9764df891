// `mupgrade rehearse` on real components: a passing rehearsal on an isolated clone (report,
// textfile, isolation, site steps, plan and prune see it), a failing one that leaves
// production as it was, a cutover refused while a rehearsal holds the lock, and a rehearsal
// killed mid-way whose clone the next one removes.

#include "fixtures.hpp"
#include "site_fixture.hpp"

#include "mupgrade/core/site_lock.hpp"
#include "mupgrade/http/http_client.hpp"
#include "mupgrade/ops/operations.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

using namespace mupgrade;
using namespace mupgrade::itest;
namespace fs = std::filesystem;

namespace {

nlohmann::json newest_report(const LifecycleSite& ls) {
  auto files = ops::rehearsal_report_files(ls.cfg);
  if (files.empty()) return nullptr;
  std::ifstream in(files.front());
  return nlohmann::json::parse(in);
}

std::vector<std::string> clones(const LifecycleSite& ls) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(ls.cfg.clones_dir(), ec)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// Every answer through the public proxy comes from the live set.
void expect_proxy_serves_only(LifecycleSite& ls, const std::string& set) {
  for (int i = 0; i < 5; ++i) {
    auto r = http::get(ls.cfg.proxy.url + "/login/index.php", ls.cfg.public_host);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.headers["x-mupgrade-set"], set);
  }
}

const char* kRehearseYaml = R"(rehearse:
  smoke_paths: [/local/standin/healthz.php]
steps:
  - name: theme
    after: purge-caches
    cfg: {theme: boost}
  - name: mark-code
    after: prepare-code
    host: [/bin/sh, -c, 'echo "$MUPGRADE_OPERATION $MUPGRADE_SET" > "$MUPGRADE_CODE/site-step-ran"']
)";

}  // namespace

TEST(RehearseTest, AnIsolatedCloneIsUpgradedAndReportedWhileProductionServes) {
  SiteCleanup cleanup;
  auto ls = make_site(cleanup, db::Kind::mariadb, 18230, kRehearseYaml);
  auto& site = *ls->site;
  std::string mailing = ls->release("4.4.3", {"upgrade_sends_email=1"});
  std::string out;
  docker::ExecOptions gen;  // users, courses and files in filedir for the smoke test
  gen.cmd = {"php", "admin/cli/standin_generate.php", "--files-mb=1", "--file-kb=64"};
  gen.user = "www-data";
  gen.workdir = "/var/www/moodle";
  auto g = engine().exec(site.web_container(ls->blue), gen);
  ASSERT_EQ(g.exit_code, 0) << g.out << g.err;

  ASSERT_EQ(run_binary("rehearse --keep --config " + ls->config_file + " --target " + mailing, &out), 0) << out;
  auto report = newest_report(*ls);
  ASSERT_FALSE(report.is_null());
  EXPECT_EQ(report["verdict"], "ok") << report.dump(2);
  EXPECT_GT(report["upgrade_s"].get<double>(), 0);
  EXPECT_GT(report["freeze_ms"].get<double>(), 0);
  EXPECT_GT(report["window_estimate_s"].get<double>(), report["upgrade_s"].get<double>());
  EXPECT_EQ(report["target_release"], "4.4.3 (Build: 20240902)");
  for (const auto& c : report["isolation"]) EXPECT_TRUE(c["ok"].get<bool>()) << c.dump();
  for (const auto& c : report["smoke"]) EXPECT_TRUE(c["ok"].get<bool>()) << c.dump();
  EXPECT_GE(report["isolation"].size(), 5u);
  EXPECT_EQ(report["smoke"].size(), 7u) << "login, course, 3 files, release, the configured path: " << report["smoke"].dump();
  std::set<std::string> files;  // each of a content's rows (draft and final) names the same file
  for (const auto& c : report["smoke"])
    if (c["check"] == "file in filedir") files.insert(c["detail"].get<std::string>());
  EXPECT_EQ(files.size(), 3u) << "three different files: " << report["smoke"].dump();
  std::string prom = read_file(ls->cfg.textfile());
  EXPECT_NE(prom.find("mupgrade_rehearsal_success{site=\"" + ls->cfg.site + "\",target=\"4.4.3 (Build: 20240902)\"} 1\n"), std::string::npos) << prom;
  EXPECT_NE(prom.find("mupgrade_rehearsal_upgrade_seconds{site=\"" + ls->cfg.site + "\"}"), std::string::npos) << prom;
  EXPECT_NE(out.find("expected cutover window"), std::string::npos) << out;

  // Production untouched: same release served, no maintenance, cron on, proxy on blue only.
  EXPECT_EQ(ls->served_release(), "4.4.1 (Build: 20240610)");
  EXPECT_FALSE(site.maintenance_file_present(ls->blue));
  EXPECT_EQ(site.cli(ls->blue).cfg_get("cron_enabled"), "1");
  EXPECT_EQ(site.db_config_value(ls->blue, "release"), "4.4.1 (Build: 20240610)");
  expect_proxy_serves_only(*ls, ls->blue);

  // The kept clone: upgraded, isolated, the site's steps ran, and no email left it.
  auto kept = clones(*ls);
  ASSERT_EQ(kept.size(), 1u);
  std::string clone = kept[0];
  site.start_set(clone, ls->cfg.target_image);
  EXPECT_EQ(site.db_config_value(clone, "release"), "4.4.3 (Build: 20240902)");
  EXPECT_EQ(site.cli(clone).cfg_get("theme"), "boost") << "the cfg site step ran after purge-caches";
  EXPECT_EQ(read_file(site.paths(clone).code + "/site-step-ran"), "rehearse " + clone + "\n") << "the host site step ran with its environment";
  EXPECT_EQ(site.cli(clone).cfg_get("noemailever"), "1");
  EXPECT_FALSE(fs::exists(site.paths(clone).moodledata + "/standin-outbox")) << "the clone sent an email";
  auto info = engine().inspect_container(site.web_container(clone));
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->host_ports.empty());
  EXPECT_EQ(info->network_ips.count(ls->cfg.network), 0u) << "the clone must not be on the proxy's network";
  docker::ExecOptions curl;
  curl.cmd = {"sh", "-c", "curl -s -m 3 -o /dev/null http://" + ls->cfg.proxy.container + "/ && echo reached || echo no-route"};
  EXPECT_NE(engine().exec(site.web_container(clone), curl).out.find("no-route"), std::string::npos) << "the clone reaches the outside";
  site.stop_set(clone);

  // plan reads the rehearsal; status shows it.
  EXPECT_EQ(run_binary("plan --config " + ls->config_file + " --target " + mailing, &out), 0) << out;
  EXPECT_NE(out.find("last rehearsal"), std::string::npos) << out;
  EXPECT_NE(out.find("passed"), std::string::npos) << out;
  EXPECT_NE(out.find("(rehearsal of "), std::string::npos) << out;
  EXPECT_EQ(run_binary("status --config " + ls->config_file, &out), 0) << out;
  EXPECT_NE(out.find("last rehearsal   ok"), std::string::npos) << out;

  // What the clone's Apache compiled is kept for the next cutover: real entries, none for
  // config.php (set-specific, with the DB password).
  std::vector<std::string> kept_caches, entries;
  for (const auto& e : fs::directory_iterator(ls->cfg.opcache_dir())) kept_caches.push_back(e.path().string());
  ASSERT_EQ(kept_caches.size(), 1u);
  for (const auto& e : fs::recursive_directory_iterator(kept_caches[0]))
    if (e.is_regular_file()) entries.push_back(e.path().string());
  EXPECT_TRUE(std::any_of(entries.begin(), entries.end(), [](const auto& e) { return e.ends_with("/var/www/moodle/login/index.php.bin"); }))
      << entries.size() << " entries";
  EXPECT_FALSE(std::any_of(entries.begin(), entries.end(), [](const auto& e) { return e.ends_with("/config.php.bin"); }));

  // The same target in a real cutover does mail: the clone's silence above is the config's doing.
  ASSERT_EQ(run_binary("cutover --config " + ls->config_file + " --target " + mailing, &out), 0) << out;
  // The site's host step wrote into green's code before seed-opcache ("cutover <green>", not
  // the clone's "rehearse <clone>"): not the code the clone compiled, so green gets none of it.
  EXPECT_FALSE(fs::exists(site.paths(site.state()->live_set).opcache())) << "green got scripts compiled from other code";
  EXPECT_TRUE(fs::exists(site.paths(site.state()->live_set).moodledata + "/standin-outbox")) << "control: the knob mails on production";
  EXPECT_EQ(run_binary("rollback --discard-writes --config " + ls->config_file, &out), 0) << out;

  // Retention: keep_clones 1 keeps the newest kept clone and removes older ones; never the live set.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  ASSERT_EQ(run_binary("rehearse --keep --config " + ls->config_file, &out), 0) << out;
  ASSERT_EQ(clones(*ls).size(), 2u);
  EXPECT_EQ(run_binary("prune --dry-run --config " + ls->config_file, &out), 0) << out;
  EXPECT_NE(out.find("would rm"), std::string::npos) << out;
  EXPECT_EQ(clones(*ls).size(), 2u) << "a dry run removes nothing";
  EXPECT_EQ(run_binary("prune --config " + ls->config_file, &out), 0) << out;
  auto left = clones(*ls);
  ASSERT_EQ(left.size(), 1u) << out;
  EXPECT_NE(left[0], clone) << "the older clone goes";
  EXPECT_TRUE(site.set_exists(ls->blue));
  EXPECT_TRUE(engine().list_containers({{"mupgrade.set", clone}}).empty()) << "its containers go too";
  EXPECT_EQ(ls->served_release(), "4.4.1 (Build: 20240610)");
}

TEST(RehearseTest, AFailingUpgradeIsReportedAndProductionIsUnaffected) {
  SiteCleanup cleanup;
  auto ls = make_site(cleanup, db::Kind::postgresql, 18231);
  std::string failing = ls->release("4.5.0", {"fail_at=mod_quiz"});
  std::string out;
  EXPECT_EQ(run_binary("rehearse --config " + ls->config_file + " --target " + failing, &out), 1) << out;
  EXPECT_NE(out.find("mupgrade: error: rehearse failed at step 'upgrade'"), std::string::npos) << out;
  EXPECT_NE(out.find("mod_quiz"), std::string::npos) << out;
  EXPECT_NE(out.find("production was not touched"), std::string::npos) << out;
  auto report = newest_report(*ls);
  EXPECT_EQ(report["verdict"], "failed");
  EXPECT_EQ(report["failed_step"], "upgrade");
  EXPECT_EQ(report["failed_component"], "mod_quiz");
  EXPECT_TRUE(fs::exists(report["upgrade_log"].get<std::string>()));
  EXPECT_NE(read_file(ls->cfg.textfile()).find("mupgrade_rehearsal_success{site=\"" + ls->cfg.site + "\",target=\"4.5 (Build: 20241007)\"} 0\n"), std::string::npos)
      << read_file(ls->cfg.textfile());
  EXPECT_TRUE(clones(*ls).empty()) << "the failed clone is removed (no --keep)";
  EXPECT_TRUE(engine().list_containers({{"mupgrade.site", ls->cfg.site}, {"mupgrade.role", "web"}}).size() == 1);
  EXPECT_EQ(ls->served_release(), "4.4.1 (Build: 20240610)");
  EXPECT_FALSE(ls->site->maintenance_file_present(ls->blue));
  EXPECT_EQ(ls->site->cli(ls->blue).cfg_get("cron_enabled"), "1");
  EXPECT_EQ(ls->site->db_config_value(ls->blue, "release"), "4.4.1 (Build: 20240610)");
  // A failed rehearsal of this very target: plan is not ready.
  EXPECT_EQ(run_binary("plan --config " + ls->config_file + " --target " + failing, &out), 1) << out;
  EXPECT_NE(out.find("FAILED"), std::string::npos) << out;
  EXPECT_NE(out.find("plan: NOT ready"), std::string::npos) << out;
}

// What real sites showed (issue 11), on the stand-in: a table prefix other than mdl_ (only in
// config.php), a target tree carrying its own config.php, a local plugin's columns on a core
// table since the site was installed, upgrade.php's maintenance answer; then an add-on of the
// live site missing from the target, and a plugin the release refuses: named by plan, refused
// by the rehearsal before its clone's window.
TEST(RehearseTest, ARealSitesPeculiaritiesAreToldByPlanAndHandledByTheRehearsal) {
  SiteCleanup cleanup;
  SiteOptions opts;
  opts.prefix = "sq_";
  opts.blue_knobs = {"plugin_adds_columns=user.degree"};
  opts.blue_release_args = {"--add-plugin", "local_extra"};
  auto ls = make_site(cleanup, db::Kind::postgresql, 18500, "", opts);
  std::string good = ls->release("4.4.3", {"plugin_adds_columns=user.degree"}, {"--add-plugin", "local_extra"});
  std::ofstream(good + "/config.php") << "<?php\n$CFG->dataroot = '/srv/elsewhere';\n$CFG->prefix = 'other_';\nrequire_once(__DIR__ . '/lib/setup.php');\n";
  std::string out;
  EXPECT_EQ(run_binary("plan --config " + ls->config_file + " --target " + good, &out), 0) << out;
  EXPECT_NE(out.find("the target tree carries its own config.php: it is ignored"), std::string::npos) << out;
  EXPECT_NE(out.find("this upgrade WILL put the site in maintenance (exit 2)"), std::string::npos) << out;
  EXPECT_NE(out.find("the live site's schema already differs from its code (1 item(s)"), std::string::npos) << out;
  EXPECT_NE(out.find("user: column 'degree' is not expected (C)"), std::string::npos) << out;
  EXPECT_NE(out.find("every add-on of the live site is in the target code"), std::string::npos) << out;
  EXPECT_NE(out.find("upgrade.php's plugin check passes"), std::string::npos) << out;
  EXPECT_TRUE(engine().list_containers({{"mupgrade.site", ls->cfg.site}, {"mupgrade.role", "probe"}}, true).empty());
  EXPECT_FALSE(fs::exists(ls->cfg.pool + "/probes") && !fs::is_empty(ls->cfg.pool + "/probes")) << "plan's probe is removed";

  EXPECT_EQ(run_binary("rehearse --config " + ls->config_file + " --target " + good, &out), 0) << out;
  auto report = newest_report(*ls);
  EXPECT_EQ(report["verdict"], "ok") << report.dump(2);
  EXPECT_NE(report["warnings"].dump().find("already had before the upgrade"), std::string::npos) << report.dump(2);
  EXPECT_NE(out.find("warn checks: 1 schema difference(s) the live site already had"), std::string::npos) << out;

  std::string without_addon = ls->release("4.4.3");
  EXPECT_EQ(run_binary("plan --config " + ls->config_file + " --target " + without_addon, &out), 1) << out;
  EXPECT_NE(out.find("installed on the live site, missing from the target code: local_extra"), std::string::npos) << out;
  EXPECT_NE(out.find("fix: add their code to the target tree"), std::string::npos) << out;
  EXPECT_EQ(run_binary("rehearse --config " + ls->config_file + " --target " + without_addon, &out), 1) << out;
  EXPECT_NE(out.find("rehearse failed at step 'verify-target'"), std::string::npos) << out;
  EXPECT_NE(out.find("missing from the target code: local_extra"), std::string::npos) << out;

  std::string refusing = ls->release("4.4.3", {}, {"--add-plugin", "local_extra", "--plugin-requires", "local_extra=2099010100"});
  EXPECT_EQ(run_binary("plan --config " + ls->config_file + " --target " + refusing, &out), 1) << out;
  EXPECT_NE(out.find("upgrade.php refuses local_extra (Dependencies check failed)"), std::string::npos) << out;
  EXPECT_EQ(run_binary("rehearse --config " + ls->config_file + " --target " + refusing, &out), 1) << out;
  EXPECT_NE(out.find("plugin check refuses local_extra"), std::string::npos) << out;
  EXPECT_TRUE(clones(*ls).empty());
  EXPECT_EQ(ls->served_release(), "4.4.1 (Build: 20240610)");
}

TEST(RehearseTest, ACutoverIsRefusedWhileARehearsalRunsAndAKilledRehearsalIsCleanedUp) {
  SiteCleanup cleanup;
  auto ls = make_site(cleanup, db::Kind::mariadb, 18232);
  std::string slow = ls->release("4.4.3", {"upgrade_seconds=6"});
  std::string log = scratch_dir() + "/" + ls->cfg.site + "-rehearse.log";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", (std::string(MUPGRADE_BINARY) + " rehearse --config " + ls->config_file + " --target " + slow + " >" + log + " 2>&1").c_str(), nullptr);
    ::_exit(127);
  }
  bool held = false;
  for (int i = 0; i < 200 && !held; ++i) {
    auto h = core::SiteLock::probe(ls->cfg.lock_path());
    held = h && h->command == "mupgrade rehearse";
    if (!held) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(held);
  std::string out;
  EXPECT_EQ(run_binary("cutover --config " + ls->config_file, &out), 3) << out;
  EXPECT_NE(out.find("a rehearsal holds the lock so that its snapshot of production and a cutover never overlap"), std::string::npos) << out;
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 0) << read_file(log);
  EXPECT_EQ(ls->served_release(), "4.4.1 (Build: 20240610)");

  // kill -9 after the clone started: status says so, a cutover is not blocked, the next
  // rehearsal removes the leftover clone.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_TRUE(crashes_after_step(ls->cfg.state_dir, "start-green", "rehearse --config " + ls->config_file, &out));
  ASSERT_EQ(clones(*ls).size(), 1u);
  std::string leftover = clones(*ls)[0];
  EXPECT_EQ(run_binary("status --config " + ls->config_file, &out), 0);
  EXPECT_NE(out.find("the last rehearsal was INTERRUPTED"), std::string::npos) << out;
  EXPECT_EQ(run_binary("plan --config " + ls->config_file, &out), 0) << "an interrupted rehearsal does not block the site: " << out;
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(run_binary("rehearse --config " + ls->config_file, &out), 0) << out;
  EXPECT_NE(out.find("removing its clone " + leftover), std::string::npos) << out;
  EXPECT_TRUE(clones(*ls).empty());
  EXPECT_TRUE(engine().list_containers({{"mupgrade.set", leftover}}).empty());
}
