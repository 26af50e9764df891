// cutover, rollback and resume over recording fakes of every port, on both DB kinds: the
// happy path, a failure at every call, a crash (kill -9) at every call followed by resume,
// and the refusals that must change nothing. Seconds, not minutes: the real-component tests
// in tests/integration stay for what fakes cannot show.

#include "fakes/fakes.hpp"

#include "mupgrade/config/playbook_load.hpp"
#include "mupgrade/core/site_lock.hpp"
#include "mupgrade/ops/operations.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <thread>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

using namespace mupgrade;
using fakes::Crash;
using fakes::FaultPlan;
namespace fs = std::filesystem;

namespace {

const char* kBlue = "20240101-000000-4.4.1";
const char* kPool = "/pool/t";
const char* kOpcacheMount = "/var/cache/mupgrade/opcache";

std::string version_php(const std::string& version, const std::string& release) {
  return "<?php\ndefined('MOODLE_INTERNAL') || die();\n$version  = " + version + ";\n$release  = '" + release +
         "';\n$branch   = '404';\n$maturity = MATURITY_STABLE;\n";
}

/// Progress that records the steps and can crash right after one of them ended.
struct RecordingProgress : ops::Progress {
  std::vector<std::string> ended;
  std::string crash_after;
  void step_started(const core::Step&, size_t, size_t) override {}
  void step_ended(const core::Step& s, const core::StepTiming& t) override {
    ended.push_back(s.name + ":" + t.outcome);
    if (s.name == crash_after && t.outcome == "ok") throw Crash{"after " + s.name};
  }
  void upgrade_component(double, const std::string&) override {}
  std::vector<std::string> notes;
  void note(const std::string& n) override { notes.push_back(n); }
};

/// Which site the tests run on: each DB kind, and MariaDB with a Redis per set (config `cache`).
struct Variant {
  ports::DbKind kind = ports::DbKind::mariadb;
  bool cache = false;
};

/// A site with a live blue set, its proxy on blue, over fakes; its state dir is real (core's).
struct World {
  World(Variant v) : World(v.kind, v.cache) {}
  explicit World(ports::DbKind kind, bool cache = false) : host(kPool, "http://127.0.0.1:18080") {
    state_dir = (fs::temp_directory_path() / fmt::format("mupgrade-unit-ops-{}-{}", ::getpid(), counter++)).string();
    fs::remove_all(state_dir);
    fs::create_directories(state_dir);
    std::ofstream(state_dir + "/pw") << "secret\n";
    cfg.site = "t";
    cfg.public_url = "http://moodle.test";
    cfg.public_host = "moodle.test";
    cfg.pool = kPool;
    cfg.state_dir = state_dir;
    cfg.network = "mupgrade-t";
    cfg.db.kind = kind;
    cfg.db.image = kind == ports::DbKind::mariadb ? "mupgrade/mariadb:10.11" : "mupgrade/postgres:15";
    cfg.db.user = "root";
    cfg.db.password_file = state_dir + "/pw";
    cfg.web_image = cfg.target_image = "mupgrade/web:php8.2";
    cfg.proxy = {core::ProxyKind::haproxy, "mupgrade-t-proxy", state_dir + "/proxy", "http://127.0.0.1:18080"};
    cfg.target_code = std::string(kPool) + "/releases/4.4.3";
    cfg.cron_drain_timeout_s = 10;
    if (cache) cfg.cache = {"redis", core::kDefaultRedisImage};
    config::load_playbooks(cfg);
    // The project's web image, as containers/web/entrypoint and Apache use a fresh OPcache file
    // cache: the start takes the marker, Apache adds compiled scripts (here: one file naming
    // the set whose Apache compiled them, once).
    host.containers.image_labels[cfg.web_image] = {{core::kOpcacheFileCacheLabel, kOpcacheMount}};
    host.containers.on_start = [this](const ports::ContainerSpec& spec) {
      for (const auto& m : spec.mounts) {
        std::string marker = m.host_path + "/" + core::kOpcacheFreshMarker;
        if (m.container_path != kOpcacheMount || !host.storage.exists(marker)) continue;
        host.storage.remove(marker);
        host.storage.write_file(m.host_path + "/used-by-" + spec.env.at("MUPGRADE_SET"), "", {0, 0, 0644});
        if (!host.storage.exists(m.host_path + "/compiled")) host.storage.write_file(m.host_path + "/compiled", spec.env.at("MUPGRADE_SET"), {33, 33, 0644});
      }
    };

    auto& st = host.storage;
    for (const auto& sub : {"db", "moodledata", "code"}) st.create_subvolume(fmt::format("{}/sets/{}/{}", kPool, kBlue, sub));
    if (cache) {
      st.create_subvolume(fmt::format("{}/sets/{}/cache", kPool, kBlue));
      st.write_file(fmt::format("{}/sets/{}/cache/dump.rdb", kPool, kBlue), "sessions of blue, as last saved", {});
    }
    std::string code = fmt::format("{}/sets/{}/code", kPool, kBlue);
    st.write_file(code + "/version.php", version_php("2024042201.00", "4.4.1 (Build: 20240610)"), {});
    st.write_file(code + "/config.php", "<?php\n$CFG->prefix = 'mdl_';\nrequire_once(__DIR__ . '/lib/setup.php');\n", {33, 33, 0640});
    st.create_subvolume(cfg.target_code);
    st.write_file(cfg.target_code + "/version.php", version_php("2024042203.00", "4.4.3 (Build: 20240902)"), {});
    host.containers.create_network(cfg.network, {{"mupgrade.site", cfg.site}}, false);  // the proxy's, as on a real site
    site = std::make_unique<ops::Site>(cfg, host.ports());
    site->create_containers(kBlue, cfg.web_image);
    host.containers.start_container(site->db_container(kBlue));
    host.containers.start_container(site->web_container(kBlue));
    if (cache) host.containers.start_container(site->cache_container(kBlue));
    host.proxy.install({kBlue, site->web_container(kBlue), "10.8.0.2", 80});
    blue_db_port = site->db_endpoint(kBlue).port;
    host.db.dirty_pages_pct[blue_db_port] = 90;
    core::SiteState s;
    s.live_set = kBlue;
    s.live_release = "4.4.1 (Build: 20240610)";
    site->save_state(s);
    host.faults.log.clear();
  }
  ~World() { fs::remove_all(state_dir); }

  /// A new process over the same disks and daemons (after a crash).
  void restart() { site = std::make_unique<ops::Site>(cfg, host.ports()); }

  ops::Outcome cutover(RecordingProgress* p = nullptr) {
    RecordingProgress own;
    std::ostringstream out;
    return ops::cutover(*site, {}, p ? *p : own, out);
  }
  ops::Outcome rehearse() {
    RecordingProgress p;
    std::ostringstream out;
    return ops::rehearse(*site, {}, p, out);
  }
  /// Clones on disk or in Docker.
  size_t clones() {
    size_t n = host.storage.list_dir(std::string(kPool) + "/clones").size();
    for (const auto& [name, c] : host.containers.containers) n += name.find("-clone-") != std::string::npos;
    for (const auto& [name, net] : host.containers.networks) n += name.find("-clone-") != std::string::npos;
    return n;
  }
  ops::Outcome resume(bool dry_run = false) {
    RecordingProgress p;
    std::ostringstream out;
    return ops::resume(*site, dry_run, p, out);
  }
  std::string green() {
    for (const auto& n : host.storage.list_dir(std::string(kPool) + "/sets"))
      if (n != kBlue) return n;
    return "";
  }
  bool blue_in_maintenance() { return site->maintenance_file_present(kBlue); }
  bool blue_cron_on() { return host.containers.cron_enabled[site->web_container(kBlue)]; }
  std::string serving() const { return host.http.held ? "" : host.http.serving; }  // "" = the proxy answers 503

  /// Blue serves as before the operation: traffic, maintenance, cron, production's DB settings.
  void expect_blue_serves_as_before(const std::string& context) {
    EXPECT_EQ(serving(), kBlue) << context;
    EXPECT_FALSE(blue_in_maintenance()) << context;
    EXPECT_TRUE(blue_cron_on()) << context;
    EXPECT_EQ(host.db.dirty_pages_pct[blue_db_port], 90) << context << ": production's DB setting left changed";
    EXPECT_FALSE(host.containers.inspect_container(site->layout().verify_container(green().empty() ? "x" : green())))
        << context << ": verify-target's throwaway container left behind";
    EXPECT_EQ(site->state()->live_set, kBlue) << context;
    if (cfg.cache.enabled()) {
      auto redis = host.containers.inspect_container(site->cache_container(kBlue));
      EXPECT_TRUE(redis && redis->running) << context << ": blue's Redis must run";
    }
  }

  static inline int counter = 0;
  fakes::FakeHost host;
  core::SiteConfig cfg;
  std::string state_dir;
  std::unique_ptr<ops::Site> site;
  int blue_db_port = 0;
};

class OperationsTest : public ::testing::TestWithParam<Variant> {};

/// The calls a successful cutover makes, and where the switch is among them.
std::vector<std::string> calls_of_a_cutover(Variant v) {
  World w(v);
  auto o = w.cutover();
  EXPECT_TRUE(o.ok) << o.error;
  return w.host.faults.log;
}

// Set ids carry the time they were made, and ports go to whichever of two containers started
// at once started first: equal calls of two runs differ only there.
std::string timeless(const std::string& call) {
  static const std::regex stamp("[0-9]{8}-[0-9]{6}"), port("\\b4[0-9]{4}\\b");
  return std::regex_replace(std::regex_replace(call, stamp, "T"), port, "P");
}

// The fault fired at call i of the reference run (injected with at_reference_call, which finds
// that call however the concurrent starts interleave).
bool fired_at(const std::string& fired, const std::vector<std::string>& calls, size_t i) {
  return !fired.empty() && timeless(fired) == timeless(calls[i]);
}

// How the fakes log upgrade.php run in a set's web container: OPcache checking timestamps, no
// cycle collector (MoodleCli::upgrade).
std::string upgrade_call(ops::Site& site, const std::string& set) {
  return "exec " + site.web_container(set) +
         ": php -d opcache.enable_cli=1 -d opcache.validate_timestamps=1 -d opcache.revalidate_freq=0 -d zend.enable_gc=0 "
         "-d disable_functions=opcache_reset admin/cli/upgrade.php";
}

size_t index_of(const std::vector<std::string>& log, const std::string& pattern) {
  for (size_t i = 0; i < log.size(); ++i)
    if (log[i].find(pattern) != std::string::npos) return i;
  return std::string::npos;
}

}  // namespace

TEST_P(OperationsTest, CutoverSwitchesToGreenAndKeepsBlueAsTheRollbackTarget) {
  World w(GetParam());
  RecordingProgress p;
  auto o = w.cutover(&p);
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  std::string green = w.green();
  EXPECT_EQ(w.serving(), green);
  EXPECT_EQ(w.site->state()->live_set, green);
  EXPECT_EQ(w.site->state()->rollback_set, kBlue);
  EXPECT_TRUE(w.blue_in_maintenance()) << "blue stays idle in maintenance";
  EXPECT_EQ(w.host.db.dirty_pages_pct[w.blue_db_port], 90) << "production's setting is restored after the snapshot";
  EXPECT_TRUE(w.host.containers.cron_enabled[w.site->web_container(green)]);
  // Green got the live site's config.php, with its owner and mode.
  auto mode = w.host.storage.file_mode(w.site->paths(green).code + "/config.php");
  ASSERT_TRUE(mode);
  EXPECT_EQ(mode->uid, 33u);
  EXPECT_EQ(mode->mode, 0640u);
}

TEST_P(OperationsTest, ATargetsOwnConfigPhpIsReplacedByTheLiveSitesOne) {
  World w(GetParam());
  w.host.storage.write_file(w.cfg.target_code + "/config.php", "<?php // the target's own, for another site\n", {});
  ASSERT_TRUE(w.cutover().ok);
  auto text = w.host.storage.read_file(w.site->paths(w.green()).code + "/config.php");
  EXPECT_EQ(text.value_or(""), "<?php\n$CFG->prefix = 'mdl_';\nrequire_once(__DIR__ . '/lib/setup.php');\n");
}

// As real Moodle 4.5.6 reported it when the target carried local_corechanges, which adds
// columns to the core table user when it is installed, during the upgrade itself.
const std::string kSep(79, '-');
const std::string kExtraColumns = kSep + "\nuser\n * column 'degree' is not expected (C)\n * column 'gender' is not expected (C)\n" + kSep + "\n";

TEST_P(OperationsTest, ColumnsNoInstallXmlDefinesAreReportedAndDoNotStopTheCutover) {
  World w(GetParam());
  w.host.containers.schema_exit = 1;
  w.host.containers.schema_out = kExtraColumns;
  struct NoteProgress : RecordingProgress {
    std::vector<std::string> notes;
    void note(const std::string& line) override { notes.push_back(line); }
  } p;
  auto o = w.cutover(&p);
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  ASSERT_EQ(p.notes.size(), 1u);
  EXPECT_NE(p.notes[0].find("2 column(s)"), std::string::npos) << p.notes[0];
  EXPECT_NE(p.notes[0].find("user: column 'degree' is not expected (C)"), std::string::npos) << p.notes[0];
}

TEST_P(OperationsTest, ASchemaDifferenceTheCodeDependsOnStopsTheCutoverAndBlueServesAgain) {
  World w(GetParam());
  w.host.containers.schema_exit = 1;
  w.host.containers.schema_out = kExtraColumns + "quiz\n * column 'timelimit' is missing\n" + kSep + "\n";
  auto o = w.cutover();
  ASSERT_FALSE(o.ok);
  EXPECT_EQ(o.failed_step, "checks");
  EXPECT_NE(o.error.find("quiz: column 'timelimit' is missing"), std::string::npos) << o.error;
  EXPECT_NE(o.error.find("besides 2 extra"), std::string::npos) << o.error;
  w.expect_blue_serves_as_before("a missing column");
}

TEST_P(OperationsTest, AFailureAtAnyCallBeforeTheSwitchLeavesBlueServingAsBefore) {
  auto calls = calls_of_a_cutover(GetParam());
  size_t switch_at = index_of(calls, "proxy.switch_to");
  ASSERT_NE(switch_at, std::string::npos);
  for (size_t i = 0; i < switch_at; ++i) {
    World w(GetParam());
    w.host.faults.at_reference_call(calls, i, FaultPlan::Kind::fail, timeless);
    std::string context = "failure at call " + std::to_string(i) + " (" + calls[i] + ")";
    try {
      auto o = w.cutover();
      EXPECT_FALSE(o.ok) << context;
      EXPECT_FALSE(o.switched) << context;
      EXPECT_TRUE(o.undo_failures.empty()) << context;
      EXPECT_TRUE(o.blue_serving) << context << ": the outcome must have seen blue serving";
    } catch (const Error& e) {
      // A refusal before the journal: nothing may have changed.
      EXPECT_FALSE(fs::exists(w.state_dir + "/journal")) << context << ": refused (" << e.what() << ") after it had started";
    }
    EXPECT_TRUE(fired_at(w.host.faults.fired, calls, i)) << context << ": fired at '" << w.host.faults.fired << "'";
    w.expect_blue_serves_as_before(context);
  }
}

TEST_P(OperationsTest, ACrashAtAnyCallIsRecoveredByResume) {
  auto calls = calls_of_a_cutover(GetParam());
  for (size_t i = 0; i < calls.size(); ++i) {
    World w(GetParam());
    w.host.faults.at_reference_call(calls, i, FaultPlan::Kind::crash, timeless);
    std::string context = "crash at call " + std::to_string(i) + " (" + calls[i] + ")";
    EXPECT_THROW(w.cutover(), Crash) << context;
    EXPECT_TRUE(fired_at(w.host.faults.fired, calls, i)) << context << ": crashed at '" << w.host.faults.fired << "'";
    w.host.faults.clear();
    w.restart();
    auto o = w.resume();
    EXPECT_TRUE(o.ok) << context << ": " << o.error;
    bool traffic_moved = w.serving() != kBlue;
    if (traffic_moved) {
      EXPECT_EQ(w.site->state()->live_set, w.green()) << context;
      EXPECT_EQ(w.site->state()->rollback_set, kBlue) << context;
    } else {
      w.expect_blue_serves_as_before(context);
    }
    // Nothing is left to resume, and a new cutover is not refused.
    std::ostringstream out;
    RecordingProgress p;
    EXPECT_NO_THROW(ops::resume(*w.site, false, p, out)) << context;
    EXPECT_NE(out.str().find("nothing to resume"), std::string::npos) << context << ": " << out.str();
  }
}

TEST_P(OperationsTest, ACrashAfterEveryStepIsRecoveredByResume) {
  std::vector<std::string> steps;
  {
    World w(GetParam());
    RecordingProgress p;
    ASSERT_TRUE(w.cutover(&p).ok);
    for (auto& e : p.ended) steps.push_back(e.substr(0, e.find(':')));
  }
  for (const auto& step : steps) {
    World w(GetParam());
    RecordingProgress p;
    p.crash_after = step;
    EXPECT_THROW(w.cutover(&p), Crash) << step;
    ASSERT_EQ(p.ended.back(), step + ":ok") << "the crash must come right after " << step;
    w.restart();
    auto o = w.resume();
    EXPECT_TRUE(o.ok) << step << ": " << o.error;
    bool after_switch = std::find(p.ended.begin(), p.ended.end(), std::string(ops::step::switch_proxy) + ":ok") != p.ended.end();
    if (after_switch) EXPECT_EQ(w.serving(), w.green()) << step;
    else w.expect_blue_serves_as_before("crash after " + step);
  }
}

TEST_P(OperationsTest, TheSnapshotWaitsForBluesRequestsInFlightWhileTheProxyAnswers503) {
  World w(GetParam());
  w.host.proxy.requests_in_flight = 3;
  ASSERT_TRUE(w.cutover().ok);
  const auto& log = w.host.faults.log;
  size_t hold = index_of(log, "proxy.hold"), snapshot = index_of(log, "storage.snapshot " + w.site->paths(kBlue).db);
  ASSERT_NE(hold, std::string::npos);
  EXPECT_LT(index_of(log, "storage.write_file " + w.site->paths(kBlue).maintenance_file()), hold);
  size_t polls = 0;
  for (size_t i = hold; i < snapshot; ++i) polls += log[i] == "proxy.in_flight";
  EXPECT_EQ(polls, 4u) << "three requests were running: the snapshot waited until none was";
  EXPECT_EQ(w.host.proxy.requests_in_flight, 0);
}

TEST_P(OperationsTest, UndoGivesBlueBackBeforeStoppingGreen) {
  World w(GetParam());
  w.host.faults.add("db.restore_durability", 1, FaultPlan::Kind::fail);
  auto o = w.cutover();
  ASSERT_FALSE(o.ok);
  EXPECT_EQ(o.failed_step, "restore-durability");
  const auto& log = w.host.faults.log;
  size_t maintenance_off = index_of(log, "storage.remove " + w.site->paths(kBlue).maintenance_file());
  size_t green_stopped = index_of(log, "containers.stop " + w.site->web_container(w.green()));
  ASSERT_NE(maintenance_off, std::string::npos);
  ASSERT_NE(green_stopped, std::string::npos);
  EXPECT_LT(maintenance_off, green_stopped) << "users waited for green to stop";
  w.expect_blue_serves_as_before("failed restore-durability");
}

TEST_P(OperationsTest, AStoppedProxyIsRefusedBeforeAnyChange) {
  World w(GetParam());
  w.host.proxy.running = false;
  auto before = w.host.storage.paths_under("/");
  auto containers = w.host.containers.containers.size();
  try {
    w.cutover();
    FAIL() << "expected a refusal";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("proxy"), std::string::npos) << e.what();
    EXPECT_FALSE(e.hint().empty());
  }
  EXPECT_EQ(w.host.storage.paths_under("/"), before);
  EXPECT_EQ(w.host.containers.containers.size(), containers);
  EXPECT_FALSE(fs::exists(w.state_dir + "/journal"));
  EXPECT_FALSE(w.blue_in_maintenance());
}

// A pool nearly full is refused before the window: a cutover or rehearsal that ran out of space
// half-way would leave snapshots behind and users on the maintenance page.
TEST_P(OperationsTest, ANearlyFullPoolIsRefusedBeforeAnyChange) {
  for (const char* operation : {"cutover", "rehearse"}) {
    World w(GetParam());
    w.host.storage.free_bytes = 1ULL << 30;
    auto before = w.host.storage.paths_under("/");
    auto containers = w.host.containers.containers.size();
    try {
      if (std::string(operation) == "cutover") w.cutover();
      else w.rehearse();
      ADD_FAILURE() << operation << ": expected a refusal";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("free space"), std::string::npos) << operation << ": " << e.what();
      EXPECT_NE(e.hint().find("prune"), std::string::npos) << e.hint();
    }
    EXPECT_EQ(w.host.storage.paths_under("/"), before) << operation;
    EXPECT_EQ(w.host.containers.containers.size(), containers) << operation;
    EXPECT_FALSE(fs::exists(w.state_dir + "/journal")) << operation;
    EXPECT_FALSE(w.blue_in_maintenance()) << operation;
  }
}

// A Docker daemon restarted during upgrade.php stops every container (none has a restart
// policy) and cuts the upgrade's exec: the undo starts blue's containers again before it takes
// blue out of maintenance.
TEST_P(OperationsTest, ADaemonRestartInTheWindowIsUndoneWithBluesContainersRunningAgain) {
  World w(GetParam());
  w.host.faults.add("upgrade.php --non-interactive", 1, FaultPlan::Kind::fail);
  w.host.faults.on_fire = [&] {
    for (auto& [name, c] : w.host.containers.containers) c.info.running = false;
  };
  auto o = w.cutover();
  EXPECT_FALSE(o.ok);
  EXPECT_NE(w.host.faults.fired.find("upgrade.php"), std::string::npos) << w.host.faults.fired;
  EXPECT_EQ(o.failed_step, "upgrade");
  for (const auto& c : {w.site->web_container(kBlue), w.site->db_container(kBlue)}) {
    auto info = w.host.containers.inspect_container(c);
    ASSERT_TRUE(info) << c;
    EXPECT_TRUE(info->running) << c << " was not started again";
  }
  w.expect_blue_serves_as_before("daemon restart in upgrade");
}

// upgrade.php purges every cache and builds the theme last: purge_caches.php after it only
// makes green's first page cold, so it runs only when the site asks for it.
TEST_P(OperationsTest, CachesArePurgedAfterTheUpgradeOnlyWhenTheSiteAsks) {
  {
    World w(GetParam());
    ASSERT_TRUE(w.cutover().ok);
    EXPECT_FALSE(w.host.faults.seen("purge_caches.php"));
  }
  World w(GetParam());
  w.cfg.purge_caches_after_upgrade = true;
  w.restart();
  ASSERT_TRUE(w.cutover().ok);
  EXPECT_TRUE(w.host.faults.seen("purge_caches.php"));
}

TEST_P(OperationsTest, ASameVersionTargetIsRefusedBeforeAnyChangeAsAConfigError) {
  World w(GetParam());
  w.host.storage.write_file(w.cfg.target_code + "/version.php", version_php("2024042201.00", "4.4.1 (Build: 20240610)"), {});
  auto before = w.host.storage.paths_under("/");
  EXPECT_THROW(w.cutover(), UsageError);
  EXPECT_EQ(w.host.storage.paths_under("/"), before);
  EXPECT_FALSE(fs::exists(w.state_dir + "/journal"));
}

TEST_P(OperationsTest, PlanAndCutoverAgreeOnATargetWithNothingToUpgrade) {
  World w(GetParam());
  w.host.storage.write_file(w.cfg.target_code + "/version.php", version_php("2024042201.00", "4.4.1 (Build: 20240610)"), {});
  auto report = ops::plan(*w.site, "");
  EXPECT_FALSE(report.ready());
  bool target_failed = false;
  for (const auto& c : report.checks) target_failed = target_failed || (c.name == "target" && c.status == core::CheckStatus::fail);
  EXPECT_TRUE(target_failed);
  EXPECT_THROW(w.cutover(), UsageError);
}

TEST_P(OperationsTest, PlanNeverQuotesARehearsalMadeBeforeTheLastCutover) {
  World w(GetParam());
  ASSERT_TRUE(w.rehearse().ok);
  auto before = ops::plan(*w.site, "");
  ASSERT_TRUE(before.expected_window_s);
  EXPECT_NE(before.expected_window_source.find("rehearsal"), std::string::npos);
  ASSERT_TRUE(w.cutover().ok);
  auto after = ops::plan(*w.site, "");
  EXPECT_EQ(after.expected_window_source.find("rehearsal"), std::string::npos) << after.expected_window_source;
  bool stale = false;
  for (const auto& c : after.checks) stale = stale || (c.name == "last rehearsal" && c.fix.find("before the last cutover") != std::string::npos);
  EXPECT_TRUE(stale);
}

// The estimate plan quotes is the window the cutover will run: without the checks and the
// health check (green's first page comes after the switch) when the rehearsal proved them,
// with them when it is too old to (a day). Real Moodle's checks are 2-3 s, 8-13 % of the window.
TEST_P(OperationsTest, PlanEstimatesTheWindowWithTheChecksOnlyWhenTheCutoverWillRunThem) {
  World w(GetParam());
  ASSERT_TRUE(w.rehearse().ok);
  auto rh = ops::last_rehearsal(w.cfg);
  ASSERT_TRUE(rh);
  EXPECT_GT(rh->first_page_s, 0) << "the rehearsal measured green's first page beside the checks";
  auto fresh = ops::plan(*w.site, "");
  ASSERT_TRUE(fresh.expected_window_s);
  EXPECT_DOUBLE_EQ(*fresh.expected_window_s, core::estimate_window(rh->timings, core::ChecksInWindow::skipped));
  EXPECT_DOUBLE_EQ(rh->window_estimate_s, *fresh.expected_window_s);

  // The same report, two days old: the cutover would run the checks, and plan says so.
  std::string file = ops::rehearsal_report_files(w.cfg).at(0);
  auto j = nlohmann::json::parse(std::ifstream(file));
  j["started_epoch"] = j["started_epoch"].get<double>() - 2 * 24 * 3600;
  std::ofstream(file) << j.dump();
  auto old = ops::plan(*w.site, "");
  ASSERT_TRUE(old.expected_window_s);
  EXPECT_DOUBLE_EQ(*old.expected_window_s, core::estimate_window(rh->timings, core::ChecksInWindow::run));
}

TEST_P(OperationsTest, AMissingHostStepProgramIsRefusedBeforeAnyChange) {
  World w(GetParam());
  core::SiteStep st;
  st.name = "plugins";
  st.anchor = "prepare-code";
  st.operations = {"cutover", "rehearse"};
  st.kind = "host";
  st.command = {"/usr/local/sbin/no-such-program"};
  w.cfg.steps.push_back(st);
  w.restart();
  w.host.commands.missing.insert(st.command[0]);
  auto before = w.host.storage.paths_under("/");
  EXPECT_THROW(w.cutover(), UsageError);
  EXPECT_EQ(w.host.storage.paths_under("/"), before);
}

TEST_P(OperationsTest, AnInterruptedSwitchIsNotUndoneOverWritesMadeOnGreen) {
  World w(GetParam());
  w.host.faults.add("proxy.switched", 1, FaultPlan::Kind::crash);
  EXPECT_THROW(w.cutover(), Crash);
  std::string green = w.green();
  ASSERT_EQ(w.serving(), green) << "the crash came after the proxy moved";
  w.host.faults.clear();
  w.host.db.writes_on_green = 3;  // users wrote on green meanwhile
  w.restart();
  auto o = w.resume();
  EXPECT_FALSE(o.ok) << "moving traffic back would drop the writes";
  EXPECT_EQ(w.serving(), green);
  EXPECT_NE(o.undo_failures.at(0).find("writes"), std::string::npos) << o.undo_failures.at(0);
  // Once the writes are dealt with (none left), a resume finishes the undo.
  w.host.db.writes_on_green = 0;
  auto again = w.resume();
  EXPECT_TRUE(again.ok) << again.error;
  w.expect_blue_serves_as_before("resume after the writes were dealt with");
}

TEST_P(OperationsTest, ResumeDryRunChangesNothing) {
  World w(GetParam());
  w.host.faults.add("freezer.freeze", 1, FaultPlan::Kind::crash);
  EXPECT_THROW(w.cutover(), Crash);
  w.host.faults.clear();
  w.restart();
  auto files = w.host.storage.paths_under("/");
  std::string journal = w.site->last_journal_path();
  std::string text;
  std::getline(std::ifstream(journal), text, '\0');
  w.host.faults.log.clear();
  auto o = w.resume(true);
  EXPECT_TRUE(o.ok);
  EXPECT_EQ(w.host.storage.paths_under("/"), files);
  std::string after;
  std::getline(std::ifstream(journal), after, '\0');
  EXPECT_EQ(after, text);
  for (const auto& call : w.host.faults.log)
    EXPECT_TRUE(call.rfind("http.get", 0) == 0 || call.rfind("db.", 0) == 0) << "a dry run made a change: " << call;
  EXPECT_TRUE(w.blue_in_maintenance()) << "still as the crash left it";
}

TEST_P(OperationsTest, ResumeIsRefusedWhileAnotherOperationHoldsTheLock) {
  World w(GetParam());
  w.host.faults.add("freezer.freeze", 1, FaultPlan::Kind::crash);
  EXPECT_THROW(w.cutover(), Crash);
  w.host.faults.clear();
  core::SiteLock running(w.cfg.lock_path(), "t", "mupgrade cutover");
  EXPECT_THROW(w.resume(), core::LockHeld);
  EXPECT_TRUE(w.blue_in_maintenance()) << "the running operation was not undone under its feet";
}

// The checks a rehearsal passed on the same code and a copy of today's live set are not run
// again in the window; a rehearsal made before the last cutover proves nothing about today's.
TEST_P(OperationsTest, ChecksTheRehearsalPassedOnTheSameCodeAreNotRunAgainInTheWindow) {
  World w(GetParam());
  ASSERT_TRUE(w.rehearse().ok);
  size_t from = w.host.faults.log.size();
  auto o = w.cutover();
  ASSERT_TRUE(o.ok) << o.error;
  EXPECT_EQ(w.host.faults.find("checks.php", from), std::string::npos) << "the rehearsal proved them";
  RecordingProgress p;
  std::ostringstream out;
  ASSERT_TRUE(ops::rollback(*w.site, {true, false}, p, out).ok);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // set ids are per second
  from = w.host.faults.log.size();
  ASSERT_TRUE(w.cutover().ok);
  EXPECT_NE(w.host.faults.find("checks.php", from), std::string::npos) << "the rehearsal ran before the last cutover";
}

// With the checks proven by the rehearsal (its clone rendered this code's pages on a copy of
// today's data), the window does not wait for green's cold first page (0.6-0.8 s on real 4.5.6,
// upgrade.php purges every cache as it exits): it is rendered right after the switch, before
// anything else. Without such a rehearsal it is in the window, before the switch, as before.
TEST_P(OperationsTest, GreensColdFirstPageComesRightAfterTheSwitchOnlyWhenTheRehearsalProvedIt) {
  World w(GetParam());
  ASSERT_TRUE(w.rehearse().ok);
  size_t from = w.host.faults.log.size();
  RecordingProgress p;
  auto o = w.cutover(&p);
  ASSERT_TRUE(o.ok) << o.error;
  std::string green = w.green();
  auto& f = w.host.faults;
  size_t page = f.find("http.get " + w.site->web_url(green) + "/login/index.php", from);
  size_t sw = f.find("proxy.switch_to " + green, from);
  size_t cron = f.find("exec " + w.site->web_container(green) + ": php admin/cli/cron.php --enable", from);
  ASSERT_NE(page, std::string::npos);
  ASSERT_NE(sw, std::string::npos);
  ASSERT_NE(cron, std::string::npos);
  EXPECT_GT(page, sw) << "the window waited for green's cold first page";
  EXPECT_LT(page, cron) << "green's first page comes first after the switch";
  EXPECT_GT(page, f.find("http.get " + w.site->web_url(green) + core::kSwitchProbePath, sw)) << "a page was asked of a web server not known to answer";
  auto step_of = [&](const std::string& name) {
    auto t = std::find_if(o.timings.begin(), o.timings.end(), [&](const core::StepTiming& x) { return x.name == name; });
    return t == o.timings.end() ? std::string("missing") : std::string(core::to_string(t->phase)) + ":" + t->outcome;
  };
  EXPECT_EQ(step_of(ops::step::green_first_page), "after:ok");
  std::string journal;
  std::getline(std::ifstream(w.site->last_journal_path()), journal, '\0');
  EXPECT_NE(journal.find("\"after_switch\""), std::string::npos) << "the health check says why it did not render";
  EXPECT_NE(journal.find("\"first_page_after_switch\":true"), std::string::npos) << "a resume must know where the page went";

  // A cutover after the last one has no rehearsal of today's data: the page is in the window.
  std::ostringstream out;
  ASSERT_TRUE(ops::rollback(*w.site, {true, false}, p, out).ok);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // set ids are per second
  from = f.log.size();
  ASSERT_TRUE(w.cutover().ok);
  green = f.log[f.find("proxy.switch_to ", from)].substr(std::string("proxy.switch_to ").size());
  page = f.find("http.get " + w.site->web_url(green) + "/login/index.php", from);
  ASSERT_NE(page, std::string::npos);
  EXPECT_LT(page, f.find("proxy.switch_to " + green, from)) << "green was switched to without a page on today's data";
}

/// The calls of a cutover right after a rehearsal that proved its checks, from the cutover on.
std::vector<std::string> calls_of_a_rehearsed_cutover(Variant v) {
  World w(v);
  EXPECT_TRUE(w.rehearse().ok);
  size_t from = w.host.faults.log.size();
  auto o = w.cutover();
  EXPECT_TRUE(o.ok) << o.error;
  return {w.host.faults.log.begin() + static_cast<std::ptrdiff_t>(from), w.host.faults.log.end()};
}

/// Its calls from the switch through green's first page: [the switch, cron-on's first call).
std::pair<size_t, size_t> switch_through_first_page(const std::vector<std::string>& calls) {
  size_t switch_at = index_of(calls, "proxy.switch_to "), cron_at = index_of(calls, "cron.php --enable");
  EXPECT_NE(switch_at, std::string::npos);
  EXPECT_NE(cron_at, std::string::npos);
  EXPECT_NE(index_of({calls.begin() + static_cast<std::ptrdiff_t>(std::min(switch_at, calls.size())), calls.end()}, "/login/index.php"),
            std::string::npos)
      << "the reference cutover rendered no page after its switch";
  if (switch_at == std::string::npos || cron_at == std::string::npos) return {0, 0};
  return {switch_at, cron_at};
}

// Users are on green when its first page is rendered: a failure from the switch through that
// page gives them blue back, the switch undone first, and leaves blue as it was.
TEST_P(OperationsTest, AFailureFromTheSwitchThroughGreensFirstPageGivesUsersBlueBackFirst) {
  auto calls = calls_of_a_rehearsed_cutover(GetParam());
  auto [switch_at, cron_at] = switch_through_first_page(calls);
  for (size_t i = switch_at; i < cron_at; ++i) {
    World w(GetParam());
    ASSERT_TRUE(w.rehearse().ok);
    size_t from = w.host.faults.log.size();
    w.host.faults.at_reference_call(calls, i, FaultPlan::Kind::fail, timeless);
    std::string context = "failure at call " + std::to_string(i) + " (" + calls[i] + ")";
    auto o = w.cutover();
    EXPECT_TRUE(fired_at(w.host.faults.fired, calls, i)) << context << ": fired at '" << w.host.faults.fired << "'";
    EXPECT_FALSE(o.ok) << context;
    EXPECT_FALSE(o.switched) << context;
    EXPECT_TRUE(o.undo_failures.empty()) << context;
    EXPECT_TRUE(o.blue_serving) << context;
    w.expect_blue_serves_as_before(context);
    const auto& log = w.host.faults.log;
    size_t back = w.host.faults.find("proxy.switch_to " + std::string(kBlue), from);
    ASSERT_NE(back, std::string::npos) << context;
    size_t stop = w.host.faults.find("containers.stop " + w.site->web_container(w.green()), from);
    if (stop != std::string::npos) {
      EXPECT_LT(back, stop) << context << ": green stopped while it had the traffic";
    }
    EXPECT_EQ(log.end(), std::find(log.begin() + static_cast<std::ptrdiff_t>(from), log.end(), "storage.write_file " + w.cfg.state_dir + "/site.json"))
        << context;
    // Finished: the next cutover is not refused as if traffic had stayed on green.
    std::ostringstream out;
    RecordingProgress p;
    EXPECT_NO_THROW(ops::resume(*w.site, false, p, out)) << context;
    EXPECT_NE(out.str().find("nothing to resume"), std::string::npos) << context << ": " << out.str();
  }
}

// Killed from the switch through green's first page: the switch had happened or not, and
// resume finishes or undoes it; a finished cutover rendered and judged green's page first.
TEST_P(OperationsTest, ACrashFromTheSwitchThroughGreensFirstPageIsRecoveredByResume) {
  auto calls = calls_of_a_rehearsed_cutover(GetParam());
  auto [switch_at, cron_at] = switch_through_first_page(calls);
  for (size_t i = switch_at; i < cron_at; ++i) {
    World w(GetParam());
    ASSERT_TRUE(w.rehearse().ok);
    w.host.faults.at_reference_call(calls, i, FaultPlan::Kind::crash, timeless);
    std::string context = "crash at call " + std::to_string(i) + " (" + calls[i] + ")";
    EXPECT_THROW(w.cutover(), Crash) << context;
    EXPECT_TRUE(fired_at(w.host.faults.fired, calls, i)) << context << ": crashed at '" << w.host.faults.fired << "'";
    w.host.faults.clear();
    w.restart();
    size_t from = w.host.faults.log.size();
    auto o = w.resume();
    EXPECT_TRUE(o.ok) << context << ": " << o.error;
    if (w.serving() == kBlue) {
      w.expect_blue_serves_as_before(context);
      continue;
    }
    EXPECT_EQ(w.site->state()->live_set, w.green()) << context;
    EXPECT_NE(w.host.faults.find("http.get " + w.site->web_url(w.green()) + "/login/index.php", from), std::string::npos)
        << context << ": the resume finished the cutover without rendering green's page";
  }
}

// Green already holds what users wrote through the switch: its first page failing does not
// move them back to a blue without their writes. Green keeps the traffic; the admin decides.
TEST_P(OperationsTest, GreensFirstPageFailingAfterUsersWroteOnGreenLeavesThemOnGreen) {
  World w(GetParam());
  ASSERT_TRUE(w.rehearse().ok);
  auto calls = calls_of_a_rehearsed_cutover(GetParam());
  size_t page = index_of(calls, "/login/index.php");
  for (size_t i = index_of(calls, "proxy.switch_to "); i < calls.size(); ++i)
    if (calls[i].find("/login/index.php") != std::string::npos) page = i;
  w.host.faults.at_reference_call(calls, page, FaultPlan::Kind::fail, timeless);
  w.host.db.writes_on_green = 2;  // users wrote on green before its page failed
  auto o = w.cutover();
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.failed_step, ops::step::green_first_page);
  EXPECT_FALSE(o.undo_failures.empty()) << "the switch's undo refuses over users' writes";
  EXPECT_EQ(w.serving(), w.green());
  EXPECT_TRUE(w.blue_in_maintenance()) << "blue was given back its users before the switch's undo had decided";
}

// upgrade.php needs green's DB and web container, not its web server: start-green does not
// wait for Apache (0.05-0.1 s of the window on real Moodle); the first page does.
TEST_P(OperationsTest, GreensUpgradeDoesNotWaitForItsWebServer) {
  World w(GetParam());
  ASSERT_TRUE(w.rehearse().ok);
  size_t from = w.host.faults.log.size();
  ASSERT_TRUE(w.cutover().ok);
  std::string green = w.green();
  size_t upgrade = w.host.faults.find(upgrade_call(*w.site, green), from);
  size_t probe = w.host.faults.find("http.get " + w.site->web_url(green) + core::kSwitchProbePath, from);
  size_t page = w.host.faults.find("http.get " + w.site->web_url(green) + "/login/index.php", from);
  ASSERT_NE(upgrade, std::string::npos);
  ASSERT_NE(probe, std::string::npos);
  ASSERT_NE(page, std::string::npos);
  EXPECT_GT(probe, upgrade) << "start-green waited for the web server before the upgrade";
  EXPECT_LT(probe, page) << "a page was asked of a web server not known to answer";
  std::string journal;
  std::getline(std::ifstream(w.site->last_journal_path()), journal, '\0');
  EXPECT_NE(journal.find("\"web_started_s\""), std::string::npos) << "the journal says what start-green waited for";
}

// What the rehearsal's clone compiled (OPcache's file cache, filled as it served) starts green
// on the same code and image: on real 4.5.6 green's first page then loads compiled scripts.
TEST_P(OperationsTest, GreenStartsFromTheScriptsTheRehearsalsCloneCompiledOnTheSameCode) {
  World w(GetParam());
  ASSERT_TRUE(w.rehearse().ok);
  auto kept = w.host.storage.list_dir(w.cfg.opcache_dir());
  ASSERT_EQ(kept.size(), 1u) << "the clone's cache is kept";
  std::string kept_dir = w.cfg.opcache_dir() + "/" + kept[0];
  EXPECT_TRUE(w.host.storage.is_subvolume(kept_dir));
  EXPECT_TRUE(w.host.storage.read_file(kept_dir + "/compiled").value_or("").starts_with(core::kClonePrefix)) << "the clone's Apache filled it";
  EXPECT_FALSE(w.host.storage.exists(kept_dir + "/" + core::kOpcacheFreshMarker)) << "the clone's start took the marker";
  EXPECT_EQ(w.clones(), 0u) << "the clone went, its cache with it";

  ASSERT_TRUE(w.cutover().ok);
  std::string green = w.green(), dir = w.site->paths(green).opcache();
  EXPECT_TRUE(w.host.storage.is_subvolume(dir));
  EXPECT_TRUE(w.host.storage.read_file(dir + "/compiled").value_or("").starts_with(core::kClonePrefix)) << "green's cache is the clone's";
  EXPECT_FALSE(w.host.storage.exists(dir + "/" + core::kOpcacheFreshMarker)) << "green's start took the marker";
  EXPECT_TRUE(w.host.storage.exists(dir + "/used-by-" + green));
  const auto& mounts = w.host.containers.containers.at(w.site->web_container(green)).spec.mounts;
  EXPECT_TRUE(std::any_of(mounts.begin(), mounts.end(), [&](const auto& m) { return m.host_path == dir && m.container_path == kOpcacheMount; }));
  const auto& blue_mounts = w.host.containers.containers.at(w.site->web_container(kBlue)).spec.mounts;
  EXPECT_EQ(blue_mounts.size(), 2u) << "a set made without a cache mounts none";
}

// The kept scripts are only good for the code they were compiled from: with validate_timestamps
// off, green's Apache would run them instead of changed files.
TEST_P(OperationsTest, GreenOnCodeChangedSinceTheRehearsalStartsWithoutItsCompiledScripts) {
  World w(GetParam());
  ASSERT_TRUE(w.rehearse().ok);
  w.host.storage.write_file(w.cfg.target_code + "/index.php", "<?php // patched after the rehearsal\n", {});
  ASSERT_TRUE(w.cutover().ok);
  std::string green = w.green();
  EXPECT_FALSE(w.host.storage.exists(w.site->paths(green).opcache()));
  const auto& mounts = w.host.containers.containers.at(w.site->web_container(green)).spec.mounts;
  EXPECT_FALSE(std::any_of(mounts.begin(), mounts.end(), [](const auto& m) { return m.container_path == kOpcacheMount; }));
}

// A site's host step may change green's code after seed-opcache (a plugin installed before
// the start): the kept scripts are then not green's code, and its start must not use them.
TEST_P(OperationsTest, GreensCodeChangedAfterTheSeedStartsWithoutTheKeptScripts) {
  World w(GetParam());
  ASSERT_TRUE(w.rehearse().ok);
  core::SiteStep plugin;
  plugin.name = "install-plugin";
  plugin.anchor = "create-green";
  plugin.operations = {"cutover"};
  plugin.kind = "host";
  plugin.command = {"/usr/local/bin/install-plugin"};
  w.cfg.steps.push_back(plugin);
  w.restart();
  w.host.commands.on_run = [&](const std::vector<std::string>& argv) {
    if (argv.at(0) == "/usr/local/bin/install-plugin")
      w.host.storage.write_file(w.site->paths(w.green()).code + "/plugin.php", "<?php // installed by the site's step\n", {});
    return ports::CommandResult{0, false, ""};
  };
  RecordingProgress p;
  auto o = w.cutover(&p);
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  ASSERT_TRUE(w.host.storage.exists(w.site->paths(w.green()).code + "/plugin.php")) << "the step ran";
  std::string dir = w.site->paths(w.green()).opcache();
  ASSERT_TRUE(w.host.storage.exists(dir + "/compiled")) << "seeded from the rehearsal's clone before the step";
  EXPECT_TRUE(w.host.storage.read_file(dir + "/compiled").value_or("").starts_with(core::kClonePrefix));
  EXPECT_FALSE(w.host.storage.exists(dir + "/used-by-" + w.green())) << "the start was told not to use it";
  bool warned = false;
  for (const auto& note : p.notes) warned = warned || note.find("not used: the code changed after seed-opcache") != std::string::npos;
  EXPECT_TRUE(warned);
}

// The control: nothing changes the code, and the seeded cache's marker reaches the start.
TEST_P(OperationsTest, TheSeededCachesMarkerCarriesTheCodesGenerationToTheStart) {
  World w(GetParam());
  ASSERT_TRUE(w.rehearse().ok);
  size_t from = w.host.faults.log.size();
  RecordingProgress p;
  auto o = w.cutover(&p);
  ASSERT_TRUE(o.ok) << o.error;
  std::string code = w.site->paths(w.green()).code;
  size_t sync = w.host.faults.find("storage.sync " + code, from), generation = w.host.faults.find("storage.generation " + code, from);
  ASSERT_NE(sync, std::string::npos);
  EXPECT_LT(sync, generation) << "the generation is read once what the cutover wrote to the code is committed";
  const auto& log = w.host.faults.log;
  auto web_start = std::find(log.begin() + static_cast<std::ptrdiff_t>(from), log.end(), "containers.start " + w.site->web_container(w.green()));
  ASSERT_NE(web_start, log.end());
  EXPECT_LT(w.host.faults.find("storage.generation " + code, generation + 1), static_cast<size_t>(web_start - log.begin()))
      << "checked again before the web container starts";
  for (const auto& note : p.notes) EXPECT_EQ(note.find("OPcache"), std::string::npos) << note;
  EXPECT_TRUE(w.host.storage.exists(w.site->paths(w.green()).opcache() + "/used-by-" + w.green()));
}

TEST_P(OperationsTest, ARehearsalKeepsItsCodesCompiledScriptsInPlaceOfTheLastOnes) {
  World w(GetParam());
  ASSERT_TRUE(w.rehearse().ok);
  auto first = w.host.storage.list_dir(w.cfg.opcache_dir());
  w.host.storage.write_file(w.cfg.target_code + "/index.php", "<?php // patched after the rehearsal\n", {});
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // clone ids are per second
  auto o = w.rehearse();
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  auto kept = w.host.storage.list_dir(w.cfg.opcache_dir());
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_NE(kept[0], first[0]);
}

// A site's own web image keeps no file cache: nothing is laid out, kept or mounted for it.
TEST_P(OperationsTest, AnImageWithoutTheOpcacheLabelGetsNoFileCache) {
  World w(GetParam());
  w.host.containers.image_labels.clear();
  ASSERT_TRUE(w.rehearse().ok);
  ASSERT_TRUE(w.cutover().ok);
  EXPECT_TRUE(w.host.storage.list_dir(w.cfg.opcache_dir()).empty());
  EXPECT_FALSE(w.host.storage.exists(w.site->paths(w.green()).opcache()));
  EXPECT_FALSE(w.host.faults.seen("storage.tree_fingerprint"));
}

TEST_P(OperationsTest, RollbackRefusesOverWritesOnGreenAndGoesBackWithDiscard) {
  World w(GetParam());
  ASSERT_TRUE(w.cutover().ok);
  std::string green = w.green();
  w.host.db.writes_on_green = 2;
  RecordingProgress p;
  std::ostringstream out;
  EXPECT_THROW(ops::rollback(*w.site, {false, false}, p, out), Error);
  EXPECT_EQ(w.serving(), green);
  auto o = ops::rollback(*w.site, {true, false}, p, out);
  ASSERT_TRUE(o.ok) << o.error;
  EXPECT_EQ(w.serving(), kBlue);
  EXPECT_FALSE(w.blue_in_maintenance());
  EXPECT_EQ(w.site->state()->live_set, kBlue);
  EXPECT_FALSE(w.site->web_running(green)) << "green is stopped and kept";
}

// Green in maintenance still gets a request per free proxy connection, so under load its
// in-flight count seldom reaches 0 (wrk flat out on real Moodle: an 18 s write guard): the proxy
// holds traffic from green's maintenance on until the switch to blue.
TEST_P(OperationsTest, RollbackHoldsTrafficAtTheProxyWhileGreensRequestsFinish) {
  World w(GetParam());
  ASSERT_TRUE(w.cutover().ok);
  size_t from = w.host.faults.log.size();
  RecordingProgress p;
  std::ostringstream out;
  ASSERT_TRUE(ops::rollback(*w.site, {true, false}, p, out).ok);
  size_t maintenance = w.host.faults.find("storage.write_file " + w.site->paths(w.green()).maintenance_file(), from);
  size_t hold = w.host.faults.find("proxy.hold", from);
  size_t drained = w.host.faults.find("proxy.in_flight", from);
  size_t count = w.host.faults.find("db.writes_since", drained == std::string::npos ? from : drained);
  size_t switched = w.host.faults.find("proxy.switch_to " + std::string(kBlue), from);
  ASSERT_NE(hold, std::string::npos) << "rollback never held traffic";
  EXPECT_LT(maintenance, hold);
  EXPECT_LT(hold, drained);
  EXPECT_LT(drained, count);
  EXPECT_LT(count, switched);
  EXPECT_FALSE(w.host.http.held) << "the switch ends the hold";
  EXPECT_EQ(w.serving(), kBlue);
}

// Writes acknowledged on green between rollback's first count and green's maintenance would be
// left behind unreported: the write guard counts again once no more can come.
TEST_P(OperationsTest, RollbackCountsGreensWritesAgainOnceGreenIsInMaintenance) {
  World w(GetParam());
  ASSERT_TRUE(w.cutover().ok);
  std::string green = w.green();
  w.host.db.writes_arriving_per_count = 1;  // the first count sees none, the next one more
  RecordingProgress p;
  std::ostringstream out;
  auto refused = ops::rollback(*w.site, {false, false}, p, out);
  EXPECT_FALSE(refused.ok);
  EXPECT_EQ(refused.failed_step, ops::step::write_guard);
  EXPECT_NE(refused.error.find("1 new rows in mdl_forum_posts"), std::string::npos) << refused.error;
  EXPECT_EQ(w.serving(), green) << "a refused rollback leaves green serving";
  EXPECT_FALSE(w.site->maintenance_file_present(green)) << "and out of maintenance";
  EXPECT_FALSE(w.host.http.held) << "and the proxy no longer holds its traffic";

  std::ostringstream out2;
  auto o = ops::rollback(*w.site, {true, false}, p, out2);
  ASSERT_TRUE(o.ok) << o.error;
  EXPECT_EQ(w.serving(), kBlue);
  EXPECT_NE(out2.str().find("more writes reached " + green), std::string::npos) << out2.str();
}

// prune's free-space projection sees what each set holds (it used to see 0 bytes, so with
// little free space a dry run marked every set for removal).
TEST_P(OperationsTest, PruneProjectsFreeSpaceFromEachSetsSize) {
  World w(GetParam());
  w.cfg.retention.keep_sets = 10;
  w.cfg.retention.min_free_bytes = 1000;
  for (const char* id : {"20230101-000000-4.1", "20230201-000000-4.2", "20230301-000000-4.3"}) {
    std::string dir = fmt::format("{}/sets/{}", kPool, id);
    for (const auto& sub : {"db", "moodledata", "code"}) w.host.storage.create_subvolume(dir + "/" + sub);
    w.host.storage.write_file(dir + "/moodledata/file", std::string(600, 'x'), {});
  }
  w.host.storage.free_bytes = 500;  // 500 short of the floor: the oldest set (600 bytes) is enough
  w.restart();
  std::ostringstream out;
  EXPECT_EQ(ops::prune(*w.site, {true}, out), 0);
  std::string text = out.str();
  EXPECT_NE(text.find("20230101-000000-4.1"), std::string::npos) << text;
  size_t would = 0;
  for (size_t at = text.find("would rm"); at != std::string::npos; at = text.find("would rm", at + 1)) ++would;
  EXPECT_EQ(would, 1u) << "only the oldest set is needed to get above the floor:\n" << text;
}

// Issue 11: another site's data filled the pool and prune proposed removing this site's kept
// sets, projected at their whole size though they were snapshots of the live set. Now only what
// a set would free counts, and a shortfall this site cannot win back is reported, not "fixed".
TEST_P(OperationsTest, PruneNeverSpendsKeptSetsOnSpaceAnotherSitesDataFills) {
  World w(GetParam());
  auto& st = w.host.storage;
  st.write_file(fmt::format("{}/sets/{}/db/ibdata1", kPool, kBlue), std::string(4000, 'd'), {});
  for (const char* id : {"20230101-000000-4.3", "20230601-000000-4.4.0"}) {  // older sets: snapshots of the live one
    for (const auto& sub : {"db", "moodledata", "code"})
      st.snapshot(fmt::format("{}/sets/{}/{}", kPool, kBlue, sub), fmt::format("{}/sets/{}/{}", kPool, id, sub));
    st.write_file(fmt::format("{}/sets/{}/db/changed", kPool, id), std::string(100, 'c'), {});
  }
  st.create_subvolume("/pool/other/sets/x/db");  // the other site, beside this one's pool
  w.cfg.retention.keep_sets = 3;
  w.cfg.retention.min_free_bytes = 2ULL << 30;
  st.free_bytes = 1ULL << 30;
  w.restart();
  std::ostringstream out;
  EXPECT_EQ(ops::prune(*w.site, {true}, out), 0);
  std::string text = out.str();
  EXPECT_EQ(text.find("would rm"), std::string::npos) << "nothing kept may be proposed:\n" << text;
  EXPECT_NE(text.find("warning: 1.0 GiB free on the filesystem holding /pool/t"), std::string::npos) << text;
  EXPECT_NE(text.find("the other 99.0 GiB is outside it (beside it in /pool: other)"), std::string::npos) << text;
  EXPECT_NE(text.find("would free 0 MiB"), std::string::npos) << text;
  EXPECT_NE(text.find("hint: free space where the other data lives"), std::string::npos) << text;
  EXPECT_TRUE(w.host.faults.seen(fmt::format("storage.disk_usage {}/sets/20230101-000000-4.3", kPool))) << "the old set's exclusive bytes were measured";

  // A real run removes nothing either; with room again, the sets stay by keep_sets.
  EXPECT_EQ(ops::prune(*w.site, {false}, out), 0);
  for (const char* id : {"20230101-000000-4.3", "20230601-000000-4.4.0"}) EXPECT_TRUE(w.site->set_exists(id)) << id;

  // This site's own data: an old set holding 1.5 GiB of its own is taken, the newer one is not.
  st.write_file(fmt::format("{}/sets/20230101-000000-4.3/moodledata/big", kPool), std::string(1500, 'b'), {});
  w.cfg.retention.min_free_bytes = (1ULL << 30) + 1000;
  w.restart();
  std::ostringstream again;
  EXPECT_EQ(ops::prune(*w.site, {true}, again), 0);
  EXPECT_NE(again.str().find("would rm"), std::string::npos) << again.str();
  EXPECT_EQ(again.str().find("warning:"), std::string::npos) << again.str();
}

TEST_P(OperationsTest, PruneRemovesOrphansOfThisSiteOnly) {
  World w(GetParam());
  auto& c = w.host.containers;
  // A killed verify-target's throwaway, and a set whose subvolumes are gone.
  c.create_container({.name = "mupgrade-t-x-web-verify", .image = "mupgrade/web:php8.2", .labels = {{"mupgrade.site", "t"}, {"mupgrade.set", "x"}, {"mupgrade.role", "verify"}}});
  c.create_network("mupgrade-t-gone", {{"mupgrade.site", "t"}, {"mupgrade.set", "gone"}}, false);
  c.create_container({.name = "mupgrade-t-gone-db", .image = "mupgrade/mariadb:10.11", .labels = {{"mupgrade.site", "t"}, {"mupgrade.set", "gone"}, {"mupgrade.role", "db"}},
                      .network = "mupgrade-t-gone"});
  // Another site's, with the same shape: never touched.
  c.create_container({.name = "mupgrade-other-gone-db", .image = "mupgrade/mariadb:10.11", .labels = {{"mupgrade.site", "other"}, {"mupgrade.set", "gone"}}});
  std::ostringstream out;
  EXPECT_EQ(ops::prune(*w.site, {true}, out), 0);
  EXPECT_NE(out.str().find("mupgrade-t-gone-db"), std::string::npos) << out.str();
  EXPECT_TRUE(c.inspect_container("mupgrade-t-gone-db")) << "a dry run removes nothing";
  EXPECT_EQ(ops::prune(*w.site, {false}, out), 0);
  EXPECT_FALSE(c.inspect_container("mupgrade-t-x-web-verify"));
  EXPECT_FALSE(c.inspect_container("mupgrade-t-gone-db"));
  EXPECT_FALSE(c.network("mupgrade-t-gone"));
  EXPECT_TRUE(c.inspect_container("mupgrade-other-gone-db")) << "another site's container";
  EXPECT_TRUE(c.inspect_container(w.site->web_container(kBlue))) << "the live set";
  EXPECT_TRUE(c.network(w.site->set_network(kBlue)));
}

TEST_P(OperationsTest, AStoppedSetHoldsNoNetworkAndStartsAgain) {
  World w(GetParam());
  ASSERT_TRUE(w.cutover().ok);
  std::string green = w.green();
  RecordingProgress p;
  std::ostringstream out;
  ASSERT_TRUE(ops::rollback(*w.site, {false, false}, p, out).ok);
  EXPECT_FALSE(w.host.containers.network(w.site->set_network(green))) << "green is stopped: its network is gone";
  w.site->start_set(green, w.cfg.target_image);
  EXPECT_TRUE(w.host.containers.network(w.site->set_network(green)));
  EXPECT_TRUE(w.site->web_running(green));
  EXPECT_TRUE(w.host.containers.inspect_container(w.site->db_container(green))->network_ips.count(w.site->set_network(green)));
}

TEST_P(OperationsTest, RehearsalUpgradesAnIsolatedCloneAndLeavesProductionAsItWas) {
  World w(GetParam());
  auto o = w.rehearse();
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  EXPECT_EQ(w.clones(), 0u) << "the clone is removed";
  w.expect_blue_serves_as_before("after a rehearsal");
  EXPECT_EQ(ops::rehearsal_report_files(w.cfg).size(), 1u);
  EXPECT_FALSE(w.host.faults.seen("storage.write_file " + w.site->paths(kBlue).maintenance_file())) << "production never goes into maintenance";
  EXPECT_FALSE(w.host.faults.seen("proxy.")) << "a rehearsal never touches the proxy";
}

TEST_P(OperationsTest, ARehearsalFailingAtAnyCallLeavesProductionAsItWasAndNoClone) {
  std::vector<std::string> calls;
  {
    World w(GetParam());
    ASSERT_TRUE(w.rehearse().ok);
    calls = w.host.faults.log;
  }
  for (size_t i = 0; i < calls.size(); ++i) {
    World w(GetParam());
    w.host.faults.at_reference_call(calls, i, FaultPlan::Kind::fail, timeless);
    std::string context = "failure at call " + std::to_string(i) + " (" + calls[i] + ")";
    try {
      auto o = w.rehearse();
      EXPECT_FALSE(o.ok) << context;
    } catch (const Error& e) {
      EXPECT_TRUE(ops::rehearsal_report_files(w.cfg).empty()) << context << ": refused (" << e.what() << ") after it had started";
    }
    EXPECT_TRUE(fired_at(w.host.faults.fired, calls, i)) << context << ": fired at '" << w.host.faults.fired << "'";
    w.expect_blue_serves_as_before(context);
    EXPECT_EQ(w.clones(), 0u) << context << ": a clone was left behind";
  }
}

TEST_P(OperationsTest, ARehearsalKilledAtAnyCallIsCleanedUpByTheNext) {
  std::vector<std::string> calls;
  {
    World w(GetParam());
    ASSERT_TRUE(w.rehearse().ok);
    calls = w.host.faults.log;
  }
  for (size_t i = 0; i < calls.size(); ++i) {
    World w(GetParam());
    w.host.faults.at_reference_call(calls, i, FaultPlan::Kind::crash, timeless);
    std::string context = "crash at call " + std::to_string(i) + " (" + calls[i] + ")";
    EXPECT_THROW(w.rehearse(), Crash) << context;
    w.host.faults.clear();
    w.restart();
    auto o = w.rehearse();  // cleans the killed one up, then runs
    EXPECT_TRUE(o.ok) << context << ": " << o.error;
    w.expect_blue_serves_as_before(context);
    EXPECT_EQ(w.clones(), 0u) << context;
  }
}

// `status` names `prune` as the way to finish a killed rehearsal: it restores production's DB
// settings from the journal and removes the clone, as the next rehearsal would.
TEST_P(OperationsTest, ARehearsalKilledAtAnyCallIsFinishedByPrune) {
  std::vector<std::string> calls;
  {
    World w(GetParam());
    ASSERT_TRUE(w.rehearse().ok);
    calls = w.host.faults.log;
  }
  for (size_t i = 0; i < calls.size(); ++i) {
    World w(GetParam());
    w.host.faults.at_reference_call(calls, i, FaultPlan::Kind::crash, timeless);
    std::string context = "crash at call " + std::to_string(i) + " (" + calls[i] + ")";
    EXPECT_THROW(w.rehearse(), Crash) << context;
    w.host.faults.clear();
    w.restart();
    std::ostringstream out;
    EXPECT_EQ(ops::prune(*w.site, {false}, out), 0) << context << ": " << out.str();
    w.expect_blue_serves_as_before(context);
    EXPECT_EQ(w.clones(), 0u) << context;
    // A crash before the rehearsal's journal was opened leaves no rehearsal run to finish.
    auto run = ops::status(*w.site).last_rehearsal_run;
    EXPECT_TRUE(!run || run->finished) << context;
  }
}

// Rollback after a cutover, with a failure or a kill at every call: the site always ends on one
// set with nothing half-done, and running `rollback` again finishes the job on blue.
TEST_P(OperationsTest, ARollbackFailingOrKilledAtAnyCallIsFinishedByTheNextRollback) {
  std::vector<std::string> calls;
  {
    World w(GetParam());
    ASSERT_TRUE(w.cutover().ok);
    w.host.faults.log.clear();
    RecordingProgress p;
    std::ostringstream out;
    ASSERT_TRUE(ops::rollback(*w.site, {true, false}, p, out).ok);
    calls = w.host.faults.log;
  }
  for (auto kind : {FaultPlan::Kind::fail, FaultPlan::Kind::crash})
    for (size_t i = 0; i < calls.size(); ++i) {
      World w(GetParam());
      ASSERT_TRUE(w.cutover().ok);
      std::string green = w.green();
      w.host.faults.log.clear();
      w.host.faults.at_reference_call(calls, i, kind, timeless);
      std::string context = std::string(kind == FaultPlan::Kind::crash ? "crash" : "failure") + " at call " + std::to_string(i) + " (" + calls[i] + ")";
      RecordingProgress p;
      std::ostringstream out;
      try {
        auto o = ops::rollback(*w.site, {true, false}, p, out);
        EXPECT_FALSE(o.ok) << context;
      } catch (const Error&) {
      } catch (const Crash&) {
      }
      EXPECT_TRUE(fired_at(w.host.faults.fired, calls, i)) << context << ": fired at '" << w.host.faults.fired << "'";
      // Whatever happened, traffic is on exactly one set, and it answers; a kill while the proxy
      // holds green's traffic leaves its 503 (green is in maintenance then anyway) until the
      // rollback is run again, as the interrupted rollback says.
      bool held_by_kill = kind == FaultPlan::Kind::crash && w.host.http.held;
      EXPECT_TRUE(w.serving() == green || w.serving() == kBlue || held_by_kill) << context << ": serving '" << w.serving() << "'";
      w.host.faults.clear();
      w.restart();
      auto again = ops::rollback(*w.site, {true, false}, p, out);
      EXPECT_TRUE(again.ok) << context << ": " << again.error;
      w.expect_blue_serves_as_before(context);
      EXPECT_FALSE(w.site->web_running(green)) << context << ": green is stopped and kept";
    }
}

// kill -9 in the middle of the rollback's switch: the proxy sends traffic to blue already (out
// of maintenance, taking writes), and the journal does not say so yet. Either recovery `status`
// names finishes the rollback on blue; neither puts blue back in maintenance under its traffic.
TEST_P(OperationsTest, ARollbackKilledInItsSwitchIsFinishedOnBlueByEitherRecovery) {
  for (bool via_resume : {true, false}) {
    std::string context = via_resume ? "cutover --resume" : "rollback again";
    World w(GetParam());
    ASSERT_TRUE(w.cutover().ok);
    std::string green = w.green();
    w.host.faults.add("proxy.switched", 1, FaultPlan::Kind::crash);
    RecordingProgress p;
    std::ostringstream out;
    EXPECT_THROW(ops::rollback(*w.site, {true, false}, p, out), Crash) << context;
    ASSERT_EQ(w.host.faults.fired.rfind("proxy.switched", 0), 0u) << context << ": fired at '" << w.host.faults.fired << "'";
    EXPECT_EQ(w.serving(), kBlue) << context << ": the kill came after traffic moved";
    EXPECT_FALSE(w.blue_in_maintenance()) << context;
    w.host.faults.clear();
    w.restart();
    std::ostringstream again_out;
    auto o = via_resume ? ops::resume(*w.site, false, p, again_out) : ops::rollback(*w.site, {true, false}, p, again_out);
    EXPECT_TRUE(o.ok) << context << ": " << o.error << "\n" << again_out.str();
    EXPECT_NE(again_out.str().find("finishing switch-proxy"), std::string::npos) << context << ": " << again_out.str();
    EXPECT_EQ(again_out.str().find("undo blue-maintenance-off"), std::string::npos) << context << ": " << again_out.str();
    w.expect_blue_serves_as_before(context);
    EXPECT_FALSE(w.site->web_running(green)) << context << ": green is stopped and kept";
  }
}

// A rollback killed before its switch is undone by `cutover --resume`: green serves again, and
// that is what the resume checks and says (not whether the rollback target, idle in maintenance,
// answers).
TEST_P(OperationsTest, AnUndoneRollbackSaysGreenServesAgain) {
  World w(GetParam());
  ASSERT_TRUE(w.cutover().ok);
  std::string green = w.green();
  RecordingProgress p;
  p.crash_after = "blue-maintenance-off";
  std::ostringstream out;
  EXPECT_THROW(ops::rollback(*w.site, {true, false}, p, out), Crash);
  EXPECT_NE(w.serving(), kBlue) << "the kill came before the switch (the proxy still holds green's traffic)";
  w.host.faults.clear();
  w.restart();
  RecordingProgress again;
  std::ostringstream again_out;
  auto o = ops::resume(*w.site, false, again, again_out);
  ASSERT_TRUE(o.ok) << o.error << "\n" << again_out.str();
  EXPECT_EQ(w.serving(), green);
  EXPECT_TRUE(o.blue_serving) << "the set live before the rollback serves: " << o.serving_detail;
  EXPECT_NE(again_out.str().find("rollback undone: the site is back as it was before it.\n"), std::string::npos) << again_out.str();
  EXPECT_TRUE(w.blue_in_maintenance()) << "the rollback target is idle in maintenance again";
}

INSTANTIATE_TEST_SUITE_P(Engines, OperationsTest,
                         ::testing::Values(Variant{ports::DbKind::mariadb, false}, Variant{ports::DbKind::postgresql, false},
                                           Variant{ports::DbKind::mariadb, true}),
                         [](const auto& p) { return std::string(ports::to_string(p.param.kind)) + (p.param.cache ? "_redis" : ""); });

// Metrics and the syslog summary (ports::Reporting): every cutover and rollback writes its
// textfile beside the rehearsal's, every operation one syslog line, and neither can fail it.
TEST_P(OperationsTest, CutoverAndRollbackWriteTheirTextfilesAndOneSummaryLineEach) {
  World w(GetParam());
  auto& rep = w.host.reporting;
  ASSERT_TRUE(w.cutover().ok);
  std::string green = w.green();
  std::string cut = w.state_dir + "/metrics/mupgrade-cutover.prom";
  ASSERT_TRUE(rep.files.count(cut)) << "no cutover textfile";
  const std::string& t = rep.files[cut];
  EXPECT_NE(t.find("mupgrade_cutover_success{site=\"t\",failed_step=\"\"} 1\n"), std::string::npos) << t;
  EXPECT_NE(t.find("mupgrade_cutover_rollback_target_present{site=\"t\"} 1\n"), std::string::npos) << t;
  double last_success = core::last_success_in_textfile(t, "cutover");
  EXPECT_GT(last_success, 1.7e9) << t;
  ASSERT_EQ(rep.summaries.size(), 1u);
  EXPECT_FALSE(rep.summaries[0].second);
  EXPECT_EQ(rep.summaries[0].first.rfind(fmt::format("cutover site=t ok from={} to={} switched window=", kBlue, green), 0), 0u) << rep.summaries[0].first;

  RecordingProgress p;
  std::ostringstream out;
  ASSERT_TRUE(ops::rollback(*w.site, {true, false}, p, out).ok);
  std::string rb = w.state_dir + "/metrics/mupgrade-rollback.prom";
  ASSERT_TRUE(rep.files.count(rb)) << "no rollback textfile";
  EXPECT_NE(rep.files[rb].find("mupgrade_rollback_success{site=\"t\",failed_step=\"\"} 1\n"), std::string::npos) << rep.files[rb];
  EXPECT_NE(rep.files[rb].find("mupgrade_rollback_rollback_target_present{site=\"t\"} 0\n"), std::string::npos) << rep.files[rb];
  ASSERT_EQ(rep.summaries.size(), 2u);
  EXPECT_EQ(rep.summaries[1].first.rfind(fmt::format("rollback site=t ok from={} to={} switched", green, kBlue), 0), 0u) << rep.summaries[1].first;
  EXPECT_EQ(rep.files[cut], t) << "a rollback leaves the cutover's textfile alone";
}

TEST_P(OperationsTest, AFailedCutoverNamesItsStepKeepsTheLastSuccessAndLogsNoErrorText) {
  World w(GetParam());
  auto& rep = w.host.reporting;
  std::string cut = w.state_dir + "/metrics/mupgrade-cutover.prom";
  rep.files[cut] = "mupgrade_cutover_last_success_timestamp_seconds{site=\"t\"} 1790000000\n";
  w.host.containers.schema_exit = 1;
  w.host.containers.schema_out = kExtraColumns + "quiz\n * column 'timelimit' is missing\n" + kSep + "\n";
  auto o = w.cutover();
  ASSERT_FALSE(o.ok);
  const std::string& t = rep.files[cut];
  EXPECT_NE(t.find("mupgrade_cutover_success{site=\"t\",failed_step=\"checks\"} 0\n"), std::string::npos) << t;
  EXPECT_EQ(core::last_success_in_textfile(t, "cutover"), 1790000000.0) << t;
  EXPECT_NE(t.find("mupgrade_cutover_rollback_target_present{site=\"t\"} 0\n"), std::string::npos) << t;
  ASSERT_EQ(rep.summaries.size(), 1u);
  const auto& [line, failed] = rep.summaries[0];
  EXPECT_TRUE(failed);
  EXPECT_NE(line.find("cutover site=t FAILED step=checks"), std::string::npos) << line;
  EXPECT_EQ(line.find("timelimit"), std::string::npos) << "the error text stays in the journal: " << line;
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
}

TEST_P(OperationsTest, AMetricsFileThatCannotBeWrittenDoesNotFailTheCutover) {
  World w(GetParam());
  w.host.reporting.fail_writes = true;
  auto o = w.cutover();
  EXPECT_TRUE(o.ok) << o.error;
  EXPECT_EQ(w.serving(), w.green());
  EXPECT_EQ(w.host.reporting.summaries.size(), 1u);
}

TEST_P(OperationsTest, ARehearsalLogsOneSummaryLine) {
  World w(GetParam());
  ASSERT_TRUE(w.rehearse().ok);
  ASSERT_EQ(w.host.reporting.summaries.size(), 1u);
  EXPECT_EQ(w.host.reporting.summaries[0].first.rfind("rehearse site=t ok", 0), 0u) << w.host.reporting.summaries[0].first;
  EXPECT_FALSE(w.host.reporting.files.count(w.state_dir + "/metrics/mupgrade-rehearse.prom")) << "the rehearsal writes its own textfile";
}

// A site whose config.php uses another table prefix (a real 4.5 site's used sq_).
static void use_prefix_in_config_php(World& w, const std::string& prefix) {
  w.host.db.tables_prefix = prefix;
  w.host.storage.write_file(fmt::format("{}/sets/{}/code/config.php", kPool, kBlue),
                            "<?php\r\n$CFG->prefix    = '" + prefix + "';\r\nrequire_once(__DIR__ . '/lib/setup.php');\r\n", {33, 33, 0640});
  w.restart();
}

TEST_P(OperationsTest, EveryQueryUsesThePrefixOfTheLiveConfigPhp) {
  World w(GetParam());
  use_prefix_in_config_php(w, "sq_");
  EXPECT_TRUE(ops::plan(*w.site, "").ready());
  auto o = w.cutover();
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  EXPECT_EQ(w.site->db_endpoint(w.green()).prefix, "sq_");
  // The write guard reads green's tables with it too.
  w.host.db.writes_on_green = 2;
  RecordingProgress p;
  std::ostringstream out;
  EXPECT_THROW(ops::rollback(*w.site, {false, false}, p, out), Error);
  EXPECT_NE(out.str().find("sq_forum_posts"), std::string::npos) << out.str();
}

TEST_P(OperationsTest, ADbPrefixInTheSiteConfigThatConfigPhpContradictsIsRefusedBeforeAnyChange) {
  World w(GetParam());
  use_prefix_in_config_php(w, "sq_");
  w.cfg.db.prefix = "mdl_";
  w.cfg.db.prefix_given = true;
  w.restart();
  auto report = ops::plan(*w.site, "");
  EXPECT_FALSE(report.ready());
  auto before = w.host.storage.paths_under("/");
  try {
    w.cutover();
    FAIL() << "expected a refusal";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("db.prefix is 'mdl_', but the live site's config.php says $CFG->prefix = 'sq_'"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("remove db.prefix"), std::string::npos) << e.hint();
  }
  EXPECT_EQ(w.host.storage.paths_under("/"), before);
  // Agreeing with config.php, it is fine.
  w.cfg.db.prefix = "sq_";
  w.restart();
  EXPECT_TRUE(ops::plan(*w.site, "").ready());
}

static const core::CheckResult* check_named(const ops::PlanReport& r, const std::string& name) {
  for (const auto& c : r.checks)
    if (c.name == name) return &c;
  return nullptr;
}

TEST_P(OperationsTest, PlanReportsWhetherTheUpgradeNeedsMaintenanceAndLeavesNoProbeBehind) {
  World w(GetParam());
  auto containers = w.host.containers.containers.size();
  auto before = w.host.storage.paths_under("/");
  for (auto [exit_code, says] : {std::pair{2, "WILL put the site in maintenance (exit 2)"}, std::pair{3, "would NOT need maintenance (exit 3)"},
                                 std::pair{1, "has no --is-maintenance-required"}}) {
    w.host.containers.maintenance_exit = exit_code;
    auto report = ops::plan(*w.site, "");
    const auto* c = check_named(report, "maintenance");
    ASSERT_TRUE(c) << exit_code;
    EXPECT_NE(c->detail.find(says), std::string::npos) << c->detail;
    EXPECT_TRUE(report.ready()) << exit_code;
  }
  // The probe (target snapshot with the live config.php, moodledata snapshot, container) is gone.
  EXPECT_EQ(w.host.storage.paths_under("/"), before);
  EXPECT_EQ(w.host.containers.containers.size(), containers);
  EXPECT_TRUE(w.host.faults.seen("upgrade.php --is-maintenance-required"));
}

// Each of Moodle's answers about the target is a PHP run of its whole bootstrap (about 2 s on
// real Moodle): verify-target, which plan and the cutover wait on, asks the three that only a
// pending upgrade needs at once (after the first, which writes the target's cache config).
TEST_P(OperationsTest, VerifyTargetAsksMoodlesLastThreeQuestionsAtOnce) {
  World w(GetParam());
  w.host.containers.php_gather = 3;
  auto report = ops::plan(*w.site, "");
  EXPECT_TRUE(report.ready());
  EXPECT_EQ(w.host.containers.php_max_at_once, 3) << "plan's survey asked in a row";
  w.host.containers.php_max_at_once = 0;
  auto o = w.cutover();
  ASSERT_TRUE(o.ok) << o.error;
  EXPECT_EQ(w.host.containers.php_max_at_once, 3) << "verify-target asked in a row";
}

TEST_P(OperationsTest, AddOnsMissingFromTheTargetAreListedByPlanAndRefusedBeforeTheWindow) {
  World w(GetParam());
  w.host.containers.missing_out = "local_extra\tExtra tools\nmod_attendance\tAttendance\n";
  auto report = ops::plan(*w.site, "");
  EXPECT_FALSE(report.ready());
  const auto* c = check_named(report, "add-ons");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, core::CheckStatus::fail);
  EXPECT_NE(c->detail.find("local_extra, mod_attendance"), std::string::npos) << c->detail;
  EXPECT_NE(c->fix.find("add their code to the target tree"), std::string::npos) << c->fix;
  auto o = w.cutover();
  ASSERT_FALSE(o.ok);
  EXPECT_EQ(o.failed_step, "verify-target");
  EXPECT_NE(o.error.find("missing from the target code: local_extra, mod_attendance"), std::string::npos) << o.error;
  EXPECT_NE(o.hint.find("site step"), std::string::npos) << o.hint;
  EXPECT_FALSE(w.host.faults.seen("climaintenance")) << "refused before the window";
  w.expect_blue_serves_as_before("missing add-ons");
}

TEST_P(OperationsTest, PluginsTheReleaseRefusesAreNamedByPlanAndByTheRehearsalReport) {
  World w(GetParam());
  w.host.containers.refused_err =
      "Dependencies check failed for local_assessment, block_old\n"
      "You must solve all the plugin requirements before proceeding to install this Moodle version!\n";
  auto report = ops::plan(*w.site, "");
  const auto* c = check_named(report, "plugin check");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, core::CheckStatus::fail);
  EXPECT_NE(c->detail.find("local_assessment, block_old"), std::string::npos) << c->detail;
  auto o = w.rehearse();
  ASSERT_FALSE(o.ok);
  EXPECT_EQ(o.failed_step, "verify-target");
  auto rh = ops::last_rehearsal(w.cfg);
  ASSERT_TRUE(rh);
  EXPECT_NE(rh->error.find("plugin check refuses local_assessment, block_old"), std::string::npos) << rh->error;
  EXPECT_EQ(w.clones(), 0u);
  // The same refusal met by upgrade.php itself (e.g. a site's playbook without verify-target).
  w.host.containers.refused_err.clear();
  w.host.containers.upgrade_exit = 1;
  w.host.containers.upgrade_err = "Dependencies check failed for local_assessment\nYou must solve all the plugin requirements before proceeding to install this Moodle version!\n";
  auto cut = w.cutover();
  ASSERT_FALSE(cut.ok);
  EXPECT_EQ(cut.failed_step, "upgrade");
  EXPECT_NE(cut.error.find("plugin check refuses local_assessment"), std::string::npos) << cut.error;
  EXPECT_NE(cut.hint.find("supports the target release"), std::string::npos) << cut.hint;
}

// The live site's own drift: a local plugin's column and a changed default it made on core
// tables long ago, reported by check_database_schema.php on the live code before the upgrade.
const std::string kLiveDrift = kSep + "\nuser\n * column 'degree' is not expected (C)\n" + kSep +
                               "\ncourse\n * column 'format' has incorrect default value\n" + kSep + "\n";

TEST_P(OperationsTest, SchemaDriftTheLiveSiteAlreadyHadIsAWarningNotAFailure) {
  World w(GetParam());
  w.host.containers.live_schema_exit = 1;
  w.host.containers.live_schema_out = kLiveDrift;
  w.host.containers.schema_exit = 1;
  w.host.containers.schema_out = kLiveDrift;
  auto report = ops::plan(*w.site, "");
  const auto* c = check_named(report, "live schema");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, core::CheckStatus::warn);
  EXPECT_NE(c->detail.find("course: column 'format' has incorrect default value"), std::string::npos) << c->detail;
  EXPECT_TRUE(report.ready());

  auto o = w.rehearse();
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  auto rh = ops::last_rehearsal(w.cfg);
  ASSERT_TRUE(rh);
  bool warned = false;
  for (const auto& line : rh->warnings) warned = warned || line.find("already had before the upgrade") != std::string::npos;
  EXPECT_TRUE(warned) << "the rehearsal report carries the live site's drift";
  EXPECT_NE(core::render_summary(*rh).find("course: column 'format' has incorrect default value"), std::string::npos);
  EXPECT_TRUE(w.cutover().ok);
}

TEST_P(OperationsTest, OnlySchemaDifferencesTheUpgradeIntroducedFailChecks) {
  World w(GetParam());
  w.host.containers.live_schema_exit = 1;
  w.host.containers.live_schema_out = kLiveDrift;
  w.host.containers.schema_exit = 1;
  w.host.containers.schema_out = kLiveDrift + "quiz\n * column 'timelimit' is missing\n" + kSep + "\n";
  auto o = w.cutover();
  ASSERT_FALSE(o.ok);
  EXPECT_EQ(o.failed_step, "checks");
  EXPECT_NE(o.error.find("quiz: column 'timelimit' is missing"), std::string::npos) << o.error;
  EXPECT_NE(o.error.find("2 difference(s) the live site already had"), std::string::npos) << o.error;
  w.expect_blue_serves_as_before("a difference the upgrade introduced");
}

TEST_P(OperationsTest, PlanSaysTheTargetsOwnConfigPhpIsIgnored) {
  World w(GetParam());
  EXPECT_FALSE(check_named(ops::plan(*w.site, ""), "target config.php"));
  w.host.storage.write_file(w.cfg.target_code + "/config.php", "<?php $CFG->dataroot = '/elsewhere';\n", {});
  auto report = ops::plan(*w.site, "");
  const auto* c = check_named(report, "target config.php");
  ASSERT_TRUE(c);
  EXPECT_NE(c->detail.find("ignored, green always gets the live site's config.php"), std::string::npos) << c->detail;
  // The target's own file is not changed by the probe that plan made of the target.
  EXPECT_EQ(w.host.storage.read_file(w.cfg.target_code + "/config.php").value_or(""), "<?php $CFG->dataroot = '/elsewhere';\n");
}

// A site with a cache service (config `cache`: Redis): each set runs its own, saved at the
// freeze point and snapshotted with the set, so green starts with blue's sessions and never
// reaches blue's Redis. The fault matrices above run on this site too (Engines/*_redis).
TEST(CacheService, GreenGetsItsOwnRedisStartedFromBluesDumpSavedAtTheFreezePoint) {
  World w(ports::DbKind::mariadb, true);
  auto o = w.cutover();
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  std::string green = w.green(), blue_redis = w.site->cache_container(kBlue), green_redis = w.site->cache_container(green);
  const auto& log = w.host.faults.log;
  size_t maintenance = index_of(log, "storage.write_file " + w.site->paths(kBlue).maintenance_file());
  size_t save = index_of(log, "exec " + blue_redis + ": redis-cli BGSAVE");
  size_t snap_db = index_of(log, "storage.snapshot " + w.site->paths(kBlue).db);
  size_t snap_cache = index_of(log, "storage.snapshot " + w.site->paths(kBlue).cache + " -> " + w.site->paths(green).cache);
  ASSERT_NE(save, std::string::npos);
  ASSERT_NE(snap_cache, std::string::npos);
  EXPECT_LT(maintenance, save) << "saved once blue no longer takes requests";
  EXPECT_LT(save, snap_db);
  EXPECT_EQ(w.host.storage.read_file(w.site->paths(green).cache + "/dump.rdb").value_or(""), "sessions of " + std::string(kBlue) + ", saved #1");
  // Green's Redis: its own container on green's network as "cache", on green's subvolume, running.
  auto& gc = w.host.containers.containers.at(green_redis);
  EXPECT_TRUE(gc.info.running);
  EXPECT_EQ(gc.spec.network, w.site->set_network(green));
  EXPECT_EQ(gc.spec.network_aliases, std::vector<std::string>{"cache"});
  ASSERT_EQ(gc.spec.mounts.size(), 1u);
  EXPECT_EQ(gc.spec.mounts[0].host_path, w.site->paths(green).cache);
  EXPECT_EQ(gc.info.labels.at("mupgrade.role"), "cache");
  // After the save nothing reaches blue's Redis: green's upgrade runs against green's own.
  for (size_t i = snap_cache; i < log.size(); ++i)
    if (log[i].find(blue_redis) != std::string::npos && log[i].find("redis-cli INFO") == std::string::npos) ADD_FAILURE() << "blue's Redis touched: " << log[i];
  EXPECT_TRUE(w.host.containers.containers.at(blue_redis).info.running) << "blue's Redis keeps its sessions for a rollback";
}

// Moodle 4.5 reads Redis sessions in another shape than 4.4 and earlier wrote, and its upgrade
// converts none (scripts/real-moodle --cache redis, 4.3 -> 4.5.6: logged out on green). So
// once upgrade.php succeeded, green's own Redis gets the new shape of blue's sessions, in
// green's web container, before green is checked and switched to; never with blue's Redis.
TEST(CacheService, SessionsAreCarriedToTheUpgradedShapeInGreensRedisBeforeTheSwitch) {
  World w(ports::DbKind::mariadb, true);
  w.host.containers.carry_out = "carried 2 session(s) of 3 in mdl_sessions from Redis' shape before Moodle 4.5\n";
  RecordingProgress p;
  auto o = w.cutover(&p);
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  std::string green = w.green();
  const auto& log = w.host.faults.log;
  // upgrade.php with OPcache on for its run, checking timestamps (it rewrites files it includes).
  size_t upgrade = index_of(log, upgrade_call(*w.site, green) + " --non-interactive");
  size_t carry = index_of(log, "exec " + w.site->web_container(green) + ": php -r // mupgrade-carry-sessions");
  size_t health = index_of(log, "http.get " + w.site->web_url(green) + "/login/index.php");
  size_t switched = index_of(log, "proxy.switch_to");
  ASSERT_NE(upgrade, std::string::npos);
  ASSERT_NE(carry, std::string::npos) << "the carry ran in green's web container";
  EXPECT_LT(upgrade, carry) << "with the upgraded code";
  EXPECT_LT(carry, health) << "before green's first page";
  EXPECT_LT(carry, switched);
  EXPECT_NE(log[carry].find("-- cache"), std::string::npos) << "only the set's own Redis: " << log[carry];
  for (const auto& line : log) EXPECT_EQ(line.find(w.site->web_container(kBlue) + ": php -r // mupgrade-carry"), std::string::npos) << line;
  bool noted = false;
  for (const auto& n : p.notes) noted = noted || n.find("carried 2 session(s)") != std::string::npos;
  EXPECT_TRUE(noted) << "the count is shown";
}

// Without the carry users log in again, as Moodle's own upgrade would leave them: a warning,
// never a failed window.
TEST(CacheService, ASessionCarryThatFailsIsAWarningNotAFailedCutover) {
  World w(ports::DbKind::mariadb, true);
  w.host.containers.carry_exit = 1;
  RecordingProgress p;
  auto o = w.cutover(&p);
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  EXPECT_TRUE(w.host.faults.seen("mupgrade-carry-sessions")) << "the fault happened where it was meant to";
  bool warned = false;
  for (const auto& n : p.notes) warned = warned || (n.find("warning: upgrade: the sessions in Redis were not carried") != std::string::npos &&
                                                    n.find("cannot connect to Redis at cache") != std::string::npos);
  EXPECT_TRUE(warned);
  EXPECT_EQ(w.serving(), w.green());
}

TEST(CacheService, NoSessionCarryWithoutACacheService) {
  World w(ports::DbKind::mariadb, false);
  ASSERT_TRUE(w.cutover().ok);
  EXPECT_FALSE(w.host.faults.seen("mupgrade-carry-sessions"));
}

TEST(CacheService, RollbackServesBlueWithItsRedisAndStopsGreens) {
  World w(ports::DbKind::mariadb, true);
  ASSERT_TRUE(w.cutover().ok);
  std::string green = w.green();
  RecordingProgress p;
  std::ostringstream out;
  auto o = ops::rollback(*w.site, {false, false}, p, out);
  ASSERT_TRUE(o.ok) << o.error;
  EXPECT_EQ(w.serving(), kBlue);
  EXPECT_TRUE(w.host.containers.containers.at(w.site->cache_container(kBlue)).info.running);
  EXPECT_FALSE(w.host.containers.containers.at(w.site->cache_container(green)).info.running) << "green's Redis stops with green";
  EXPECT_TRUE(w.host.storage.is_subvolume(w.site->paths(green).cache)) << "kept with green";
}

TEST(CacheService, ARehearsalsRedisIsTornDownWithTheClone) {
  World w(ports::DbKind::mariadb, true);
  auto o = w.rehearse();
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  EXPECT_TRUE(w.host.faults.seen(": redis-cli PING")) << "the clone's Redis was started and waited for";
  EXPECT_EQ(w.clones(), 0u);
  for (const auto& [name, c] : w.host.containers.containers) EXPECT_EQ(name.find("-clone-"), std::string::npos) << name;
}

TEST(CacheService, PruneRemovesAnOldSetsRedisAndItsData) {
  World w(ports::DbKind::mariadb, true);
  w.cfg.retention.keep_sets = 2;
  std::vector<std::string> old = {"20230101-000000-4.1", "20230201-000000-4.2"};
  for (const auto& id : old) {
    for (const auto& sub : {"db", "moodledata", "code", "cache"}) w.host.storage.create_subvolume(fmt::format("{}/sets/{}/{}", kPool, id, sub));
    w.site->create_containers(id, w.cfg.web_image);
  }
  w.host.storage.ages[fmt::format("{}/sets/{}", kPool, old[0])] = 3e7;  // the oldest
  w.host.storage.ages[fmt::format("{}/sets/{}", kPool, old[1])] = 2e7;
  w.restart();
  std::ostringstream out;
  EXPECT_EQ(ops::prune(*w.site, {false}, out), 0) << out.str();
  EXPECT_FALSE(w.host.containers.inspect_container(w.site->cache_container(old[0]))) << out.str();
  EXPECT_FALSE(w.host.storage.exists(w.site->paths(old[0]).cache));
  EXPECT_TRUE(w.host.containers.inspect_container(w.site->cache_container(old[1]))) << "kept: " << out.str();
  EXPECT_TRUE(w.host.containers.inspect_container(w.site->cache_container(kBlue)));
}

// A site that adds `cache` later: its live set has no Redis yet, so green starts with an empty one.
TEST(CacheService, ALiveSetWithoutRedisGivesGreenAnEmptyOne) {
  World w(ports::DbKind::mariadb, false);
  w.cfg.cache = {"redis", core::kDefaultRedisImage};
  w.restart();
  auto o = w.cutover();
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  EXPECT_TRUE(w.host.storage.is_subvolume(w.site->paths(w.green()).cache));
  EXPECT_FALSE(w.host.faults.seen("redis-cli BGSAVE"));
  EXPECT_TRUE(w.host.containers.containers.at(w.site->cache_container(w.green())).info.running);
}

// A killed plan leaves its probe under <pool>/probes (a snapshot of the target, one of the live
// moodledata, a throwaway container). Plans hold no lock and take seconds: prune removes probes
// older than an hour and leaves a young one, which a running plan may own.
TEST(PruneProbes, RemovesAKilledPlansProbeAndLeavesARunningOnesAlone) {
  World w(ports::DbKind::mariadb);
  auto& st = w.host.storage;
  auto& c = w.host.containers;
  std::string probes = std::string(kPool) + "/probes";
  for (const char* id : {"plan-20260101T000000Z", "plan-20260102T000000Z"}) {
    st.create_subvolume(probes + "/" + id + "/code");
    st.create_subvolume(probes + "/" + id + "/moodledata");
    c.create_container({.name = fmt::format("mupgrade-t-{}", id), .image = "mupgrade/web:php8.2",
                        .labels = {{"mupgrade.site", "t"}, {"mupgrade.set", id}, {"mupgrade.role", "probe"}}});
    c.start_container(fmt::format("mupgrade-t-{}", id));
  }
  st.ages[probes + "/plan-20260101T000000Z"] = 7200;  // killed two hours ago; the other is a minute old
  std::ostringstream dry;
  EXPECT_EQ(ops::prune(*w.site, {true}, dry), 0);
  EXPECT_NE(dry.str().find("plan-20260101T000000Z"), std::string::npos) << dry.str();
  EXPECT_TRUE(st.exists(probes + "/plan-20260101T000000Z")) << "a dry run removes nothing";
  std::ostringstream out;
  EXPECT_EQ(ops::prune(*w.site, {false}, out), 0) << out.str();
  EXPECT_FALSE(st.exists(probes + "/plan-20260101T000000Z")) << out.str();
  EXPECT_FALSE(st.exists(probes + "/plan-20260101T000000Z/code"));
  EXPECT_FALSE(c.inspect_container("mupgrade-t-plan-20260101T000000Z")) << out.str();
  EXPECT_TRUE(st.is_subvolume(probes + "/plan-20260102T000000Z/code")) << "a running plan's probe: " << out.str();
  EXPECT_TRUE(c.inspect_container("mupgrade-t-plan-20260102T000000Z")) << out.str();
}

// `mupgrade cron`: cron.php on whichever set is live, never in a window.
TEST(Cron, RunsCronPhpInTheLiveSetsWebContainerWhateverItIsCalled) {
  World w(ports::DbKind::mariadb);
  std::ostringstream out;
  auto o = ops::cron(*w.site, out);
  EXPECT_TRUE(o.ran) << o.skipped;
  EXPECT_TRUE(w.host.faults.seen("exec " + w.site->web_container(kBlue) + ": php admin/cli/cron.php")) << w.host.faults.log.back();
  ASSERT_TRUE(w.cutover().ok);
  w.host.faults.log.clear();
  o = ops::cron(*w.site, out);
  EXPECT_TRUE(o.ran) << o.skipped;
  EXPECT_EQ(o.set, w.green());
  EXPECT_TRUE(w.host.faults.seen("exec " + w.site->web_container(w.green()) + ": php admin/cli/cron.php"));
  EXPECT_FALSE(w.host.faults.seen("exec " + w.site->web_container(kBlue)));
}

TEST(Cron, IsSkippedWhileAnOperationHoldsTheSiteButNotForARehearsal) {
  World w(ports::DbKind::mariadb);
  std::ostringstream out;
  {
    core::SiteLock held(w.cfg.lock_path(), "t", "mupgrade cutover");
    auto o = ops::cron(*w.site, out);
    EXPECT_FALSE(o.ran);
    EXPECT_NE(o.skipped.find("mupgrade cutover"), std::string::npos) << o.skipped;
  }
  {
    core::SiteLock held(w.cfg.lock_path(), "t", "mupgrade rehearse");
    EXPECT_TRUE(ops::cron(*w.site, out).ran) << "a rehearsal never touches production's cron";
  }
  EXPECT_EQ(std::count_if(w.host.faults.log.begin(), w.host.faults.log.end(), [](const std::string& l) { return l.find("cron.php") != std::string::npos; }), 1);
}

TEST(Cron, IsSkippedInMaintenanceAndAfterAnInterruptedCutover) {
  World w(ports::DbKind::mariadb);
  std::ostringstream out;
  w.site->maintenance_file(kBlue, true);
  auto o = ops::cron(*w.site, out);
  EXPECT_FALSE(o.ran);
  EXPECT_NE(o.skipped.find("maintenance"), std::string::npos) << o.skipped;
  w.site->maintenance_file(kBlue, false);
  w.host.faults.add("containers.start", 1, FaultPlan::Kind::crash);  // killed in the window
  EXPECT_THROW(w.cutover(), Crash);
  w.host.faults.clear();
  w.restart();
  o = ops::cron(*w.site, out);
  EXPECT_FALSE(o.ran);
  EXPECT_NE(o.skipped.find("interrupted"), std::string::npos) << o.skipped;
  EXPECT_FALSE(w.host.faults.seen(": php admin/cli/cron.php"));
}
