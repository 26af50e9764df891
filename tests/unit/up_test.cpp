// `mupgrade up` over the recording fakes, on both DB kinds: nothing missing changes nothing;
// stopped containers started, removed ones (sets, proxy, networks) made again with the same
// names, labels and networks; after a cutover the live set and the rollback target both; the
// lock and another operation's interrupted journal refuse; a crash at every call is recovered
// by running `up` again.

#include "fakes/fakes.hpp"

#include "mupgrade/config/playbook_load.hpp"
#include "mupgrade/core/atomic_file.hpp"
#include "mupgrade/core/journal.hpp"
#include "mupgrade/core/site_lock.hpp"
#include "mupgrade/ops/up.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace mupgrade;
using fakes::Crash;
using fakes::FaultPlan;
namespace fs = std::filesystem;

namespace {

const char* kBlue = "20240101-000000-4.4.1";
const char* kPool = "/pool/u";
const char* kTargetImage = "mupgrade/web:php8.3";

std::string version_php(const std::string& version, const std::string& release) {
  return "<?php\n$version  = " + version + ";\n$release  = '" + release + "';\n$branch   = '404';\n";
}

struct Quiet : ops::Progress {
  void step_started(const core::Step&, size_t, size_t) override {}
  void step_ended(const core::Step&, const core::StepTiming&) override {}
  void upgrade_component(double, const std::string&) override {}
  void note(const std::string&) override {}
};

/// A site as init leaves it (live blue set, site network, proxy container on blue), over fakes.
struct UpWorld {
  explicit UpWorld(ports::DbKind kind, bool cache = false) : host(kPool, "http://127.0.0.1:18700") {
    state_dir = (fs::temp_directory_path() / fmt::format("mupgrade-unit-up-{}-{}", ::getpid(), counter++)).string();
    fs::remove_all(state_dir);
    fs::create_directories(state_dir);
    std::ofstream(state_dir + "/pw") << "secret\n";
    cfg.site = "u";
    cfg.public_url = "http://moodle.test";
    cfg.public_host = "moodle.test";
    cfg.pool = kPool;
    cfg.state_dir = state_dir;
    cfg.network = "mupgrade-u";
    cfg.db.kind = kind;
    cfg.db.image = kind == ports::DbKind::mariadb ? "mupgrade/mariadb:10.11" : "mupgrade/postgres:15";
    cfg.db.user = "root";
    cfg.db.password_file = state_dir + "/pw";
    cfg.web_image = "mupgrade/web:php8.2";
    cfg.target_image = kTargetImage;  // a cutover's green runs another image than web.image
    cfg.proxy = {core::ProxyKind::haproxy, "mupgrade-u-proxy", state_dir + "/proxy", "http://127.0.0.1:18700", "mupgrade/haproxy:2.6"};
    cfg.target_code = std::string(kPool) + "/releases/4.4.3";
    cfg.cron_drain_timeout_s = 10;
    if (cache) cfg.cache = {"redis", core::kDefaultRedisImage};
    config::load_playbooks(cfg);
    host.containers.images.insert({"mupgrade/haproxy:2.6", kTargetImage});
    host.http.proxy_container = cfg.proxy.container;

    auto& st = host.storage;
    for (const auto& sub : {"db", "moodledata", "code", "cache"}) st.create_subvolume(fmt::format("{}/sets/{}/{}", kPool, kBlue, sub));
    std::string code = fmt::format("{}/sets/{}/code", kPool, kBlue);
    st.write_file(code + "/version.php", version_php("2024042201.00", "4.4.1 (Build: 20240610)"), {});
    st.write_file(code + "/config.php", "<?php\n$CFG->prefix = 'mdl_';\nrequire_once(__DIR__ . '/lib/setup.php');\n", {33, 33, 0640});
    st.create_subvolume(cfg.target_code);
    st.write_file(cfg.target_code + "/version.php", version_php("2024042203.00", "4.4.3 (Build: 20240902)"), {});
    site = std::make_unique<ops::Site>(cfg, host.ports());
    site->ensure_site_network();
    site->start_set(kBlue, cfg.web_image);
    host.proxy.install(site->backend(kBlue));
    site->create_proxy_container();
    host.containers.start_container(cfg.proxy.container);
    core::SiteState s;
    s.live_set = kBlue;
    site->save_state(s);
    host.faults.log.clear();
  }
  ~UpWorld() { fs::remove_all(state_dir); }

  void restart() { site = std::make_unique<ops::Site>(cfg, host.ports()); }
  ops::UpOutcome up(bool dry_run = false) {
    Quiet p;
    std::ostringstream out;
    auto o = ops::up(*site, {dry_run}, p, out);
    text = out.str();
    return o;
  }
  ops::Outcome cutover() {
    Quiet p;
    std::ostringstream out;
    return ops::cutover(*site, {}, p, out);
  }
  /// What a daemon restart does: every container stops.
  void stop_all() {
    for (auto& [name, c] : host.containers.containers) {
      c.info.running = false;
      c.info.status = "exited";
      c.info.host_ports.clear();
    }
  }
  /// `docker rm -f` of every container of the site, the proxy's included.
  void remove_all() { host.containers.containers.clear(); }
  std::vector<std::string> site_containers(const std::string& set) { return {site->db_container(set), site->web_container(set)}; }
  bool runs(const std::string& name) {
    auto i = host.containers.inspect_container(name);
    return i && i->running;
  }
  /// The set's containers run as cutover/init make them: names, labels, networks, image.
  void expect_set_runs(const std::string& set, const std::string& image, const std::string& context) {
    for (const auto& [name, role] : {std::pair{site->db_container(set), "db"}, std::pair{site->web_container(set), "web"}}) {
      auto i = host.containers.inspect_container(name);
      ASSERT_TRUE(i) << context << ": " << name;
      EXPECT_TRUE(i->running) << context << ": " << name;
      EXPECT_EQ(i->labels, site->layout().labels(set, role)) << context << ": " << name;
      EXPECT_TRUE(i->network_ips.count(site->set_network(set))) << context << ": " << name;
    }
    auto web = host.containers.inspect_container(site->web_container(set));
    EXPECT_TRUE(web->network_ips.count(cfg.network)) << context << ": web off the proxy's network";
    EXPECT_EQ(web->image, image) << context;
    EXPECT_TRUE(host.containers.network(site->set_network(set))) << context;
  }
  void expect_serves(const std::string& set, const std::string& context) {
    EXPECT_TRUE(runs(cfg.proxy.container)) << context;
    std::string seen;
    EXPECT_TRUE(site->serves_publicly(set, &seen)) << context << ": " << seen;
  }
  size_t journals() { return core::state_files(state_dir + "/journal", ".jsonl").size(); }

  static inline int counter = 0;
  fakes::FakeHost host;
  core::SiteConfig cfg;
  std::string state_dir, text;
  std::unique_ptr<ops::Site> site;
};

class UpTest : public ::testing::TestWithParam<ports::DbKind> {};

bool made_or_started(const std::vector<std::string>& log) {
  for (const auto& l : log)
    if (l.find("containers.create") != std::string::npos || l.find("containers.start") != std::string::npos ||
        l.find("proxy.switch") != std::string::npos || l.find("proxy.install") != std::string::npos)
      return true;
  return false;
}

}  // namespace

TEST_P(UpTest, NothingMissingChangesNothingAndSaysSo) {
  UpWorld w(GetParam());
  auto o = w.up();
  ASSERT_TRUE(o.ok) << o.error;
  EXPECT_FALSE(o.changed);
  EXPECT_TRUE(o.serving);
  EXPECT_FALSE(made_or_started(w.host.faults.log));
  EXPECT_EQ(w.journals(), 0u) << "nothing done, nothing journaled";
  EXPECT_NE(w.text.find("nothing changed"), std::string::npos) << w.text;
}

TEST_P(UpTest, AfterADaemonRestartStartsTheStoppedContainersWithoutMakingNewOnes) {
  UpWorld w(GetParam());
  w.stop_all();
  auto o = w.up();
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  EXPECT_TRUE(o.changed);
  EXPECT_FALSE(w.host.faults.seen("containers.create ")) << "stopped containers are started, not made again";
  w.expect_set_runs(kBlue, w.cfg.web_image, "daemon restart");
  w.expect_serves(kBlue, "daemon restart");
  EXPECT_TRUE(w.host.faults.seen("proxy.switch_to " + std::string(kBlue))) << "the proxy is pointed at the live set's address";
}

TEST_P(UpTest, RemovedContainersAreMadeAgainWithTheSameNamesLabelsAndNetworks) {
  UpWorld w(GetParam());
  auto proxy_spec = w.host.containers.containers.at(w.cfg.proxy.container).spec;
  w.remove_all();
  auto o = w.up();
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  w.expect_set_runs(kBlue, w.cfg.web_image, "removed");
  auto& proxy = w.host.containers.containers.at(w.cfg.proxy.container).spec;
  EXPECT_EQ(proxy.image, proxy_spec.image);
  EXPECT_EQ(proxy.labels, proxy_spec.labels);
  EXPECT_EQ(proxy.network, w.cfg.network);
  ASSERT_EQ(proxy.ports.size(), 1u);
  EXPECT_EQ(proxy.ports[0].host_port, 18700);
  w.expect_serves(kBlue, "removed");
  // A second run finds everything running.
  w.host.faults.log.clear();
  auto again = w.up();
  EXPECT_TRUE(again.ok);
  EXPECT_FALSE(again.changed);
  EXPECT_FALSE(made_or_started(w.host.faults.log));
}

// A site with a Redis per set: a removed cache container is seen and made again with the set's
// labels, on its network, over its data dir (what `up` checked before knew only DB and web).
TEST_P(UpTest, ARemovedCacheContainerIsMadeAgain) {
  UpWorld w(GetParam(), true);
  std::string redis = w.site->cache_container(kBlue);
  ASSERT_TRUE(w.runs(redis));
  w.host.containers.containers.erase(redis);
  auto dry = w.up(true);
  EXPECT_NE(w.text.find(redis), std::string::npos) << w.text;
  auto o = w.up();
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  EXPECT_TRUE(o.changed);
  auto i = w.host.containers.inspect_container(redis);
  ASSERT_TRUE(i);
  EXPECT_TRUE(i->running);
  EXPECT_EQ(i->labels, w.site->layout().labels(kBlue, "cache"));
  EXPECT_TRUE(i->network_ips.count(w.site->set_network(kBlue)));
  w.expect_serves(kBlue, "cache removed");
}

TEST_P(UpTest, RemovedNetworksAreMadeAgain) {
  UpWorld w(GetParam());
  w.stop_all();
  // `docker network rm` succeeds once the containers stopped; they keep naming the network.
  w.host.containers.networks.clear();
  auto o = w.up();
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  ASSERT_TRUE(w.host.containers.network(w.cfg.network));
  EXPECT_EQ(w.host.containers.network(w.cfg.network)->labels, (ports::Labels{{"mupgrade.site", "u"}}));
  EXPECT_EQ(w.host.containers.network(w.site->set_network(kBlue))->labels, w.site->layout().labels(kBlue));
  w.expect_set_runs(kBlue, w.cfg.web_image, "networks removed");
  w.expect_serves(kBlue, "networks removed");
}

TEST_P(UpTest, ARemovedProxyIsMadeAgainAndPointedAtTheLiveSet) {
  UpWorld w(GetParam());
  w.host.containers.containers.erase(w.cfg.proxy.container);
  auto o = w.up();
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  EXPECT_TRUE(w.host.faults.seen("containers.create " + w.cfg.proxy.container));
  EXPECT_FALSE(w.host.faults.seen("containers.create mupgrade-u-2")) << "the set ran: left alone";
  w.expect_serves(kBlue, "proxy removed");
}

TEST_P(UpTest, AfterACutoverBringsBackTheLiveSetAndTheIdleRollbackTarget) {
  UpWorld w(GetParam());
  auto c = w.cutover();
  ASSERT_TRUE(c.ok) << c.failed_step << ": " << c.error;
  std::string green = w.site->state()->live_set;
  ASSERT_NE(green, kBlue);
  w.remove_all();
  w.restart();
  auto o = w.up();
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  EXPECT_EQ(o.green, green);
  EXPECT_EQ(o.blue, kBlue);
  w.expect_set_runs(green, kTargetImage, "live");
  w.expect_set_runs(kBlue, w.cfg.web_image, "rollback target");
  EXPECT_TRUE(w.site->maintenance_file_present(kBlue)) << "the rollback target stays idle, in maintenance";
  w.expect_serves(green, "after cutover");
  EXPECT_EQ(w.site->state()->live_set, green);
  EXPECT_EQ(w.site->state()->rollback_set, kBlue) << "up does not change what is live";
}

TEST_P(UpTest, DryRunSaysWhatItWouldDoAndChangesNothing) {
  UpWorld w(GetParam());
  w.remove_all();
  auto o = w.up(true);
  EXPECT_TRUE(o.ok);
  EXPECT_TRUE(o.changed);
  EXPECT_TRUE(w.host.containers.containers.empty());
  EXPECT_FALSE(made_or_started(w.host.faults.log));
  EXPECT_NE(w.text.find("create"), std::string::npos) << w.text;
  EXPECT_NE(w.text.find("start-live"), std::string::npos) << w.text;
}

TEST_P(UpTest, RefusesWhileAnotherOperationHoldsTheLock) {
  UpWorld w(GetParam());
  w.stop_all();
  core::SiteLock held(w.cfg.lock_path(), "u", "mupgrade cutover");
  EXPECT_THROW(w.up(), core::LockHeld);
  EXPECT_FALSE(made_or_started(w.host.faults.log));
}

TEST_P(UpTest, RefusesAnotherOperationsInterruptedJournalWithTheHint) {
  UpWorld w(GetParam());
  w.host.faults.add("upgrade.php --non-interactive", 1, FaultPlan::Kind::crash);
  EXPECT_THROW(w.cutover(), Crash);
  EXPECT_NE(w.host.faults.fired.find("upgrade.php"), std::string::npos) << w.host.faults.fired;
  w.host.faults.clear();
  w.stop_all();
  w.restart();
  w.host.faults.log.clear();
  try {
    w.up();
    FAIL() << "up ran past an interrupted cutover";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("interrupted"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("mupgrade cutover --resume"), std::string::npos) << e.hint();
  }
  EXPECT_FALSE(made_or_started(w.host.faults.log));
}

TEST_P(UpTest, AnInterruptedRehearsalIsToldAndDoesNotStopUp) {
  UpWorld w(GetParam());
  w.host.faults.add("upgrade.php --non-interactive", 1, FaultPlan::Kind::crash);
  {
    Quiet p;
    std::ostringstream out;
    try {
      auto r = ops::rehearse(*w.site, {}, p, out);
      FAIL() << "no crash: " << r.failed_step << ": " << r.error << "\n" << out.str();
    } catch (const Crash&) {
    }
  }
  EXPECT_NE(w.host.faults.fired.find("upgrade.php"), std::string::npos) << w.host.faults.fired;
  w.host.faults.clear();
  w.stop_all();
  w.restart();
  auto o = w.up();
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  EXPECT_NE(w.text.find("'mupgrade prune' removes it"), std::string::npos) << w.text;
  w.expect_serves(kBlue, "interrupted rehearsal");
}

// kill -9 at any call of `up` (after everything was removed): the next `up` finishes the job.
TEST_P(UpTest, ACrashAtEveryCallIsRecoveredByRunningUpAgain) {
  std::vector<std::string> calls;
  {
    UpWorld ref(GetParam());
    ref.remove_all();
    ASSERT_TRUE(ref.up().ok);
    calls = ref.host.faults.log;
  }
  ASSERT_GT(calls.size(), 10u);
  for (size_t i = 0; i < calls.size(); ++i) {
    UpWorld w(GetParam());
    w.remove_all();
    w.host.faults.at_call(i, FaultPlan::Kind::crash);
    bool crashed = false;
    try {
      w.up();
    } catch (const Crash&) {
      crashed = true;
    }
    ASSERT_TRUE(crashed) << "no crash at call " << i << " (" << calls[i] << ")";
    w.host.faults.clear();
    w.restart();
    auto o = w.up();
    ASSERT_TRUE(o.ok) << "after a crash at call " << i << " (" << calls[i] << "): " << o.failed_step << ": " << o.error;
    w.expect_set_runs(kBlue, w.cfg.web_image, "crash at " + calls[i]);
    w.expect_serves(kBlue, "crash at " + calls[i]);
  }
}

// A failure at any call before the proxy is pointed leaves the site as up found it.
TEST_P(UpTest, AFailureBeforeTheSwitchIsUndone) {
  UpWorld w(GetParam());
  w.stop_all();
  w.host.faults.add("containers.start " + w.cfg.proxy.container, 1, FaultPlan::Kind::fail);
  auto o = w.up();
  EXPECT_FALSE(o.ok);
  EXPECT_NE(w.host.faults.fired.find("containers.start " + w.cfg.proxy.container), std::string::npos) << w.host.faults.fired;
  EXPECT_EQ(o.failed_step, "proxy");
  EXPECT_FALSE(w.runs(w.site->web_container(kBlue))) << "the live set is stopped again, as found";
  EXPECT_TRUE(w.host.containers.inspect_container(w.site->web_container(kBlue))) << "containers it did not make stay";
  w.host.faults.clear();
  auto again = w.up();
  EXPECT_TRUE(again.ok) << again.error;
}

INSTANTIATE_TEST_SUITE_P(Db, UpTest, ::testing::Values(ports::DbKind::mariadb, ports::DbKind::postgresql),
                         [](const auto& p) { return std::string(ports::to_string(p.param)); });
