// `mupgrade adopt --from` and `adopt --undo` over the recording fakes: discovery of each
// family (Bitnami-like: named volumes under /bitnami, uid 1001, MariaDB; moodlehq-like: code
// bind-mounted at /var/www/html, www-data, PostgreSQL), the dry run, the refusals that change
// nothing, adopt then undo, and a failure and a crash (kill -9) at every call, after which the
// old stack is recoverable and no secret reaches an argv or the journal.

#include "fakes/fakes.hpp"

#include "mupgrade/config/load.hpp"
#include "mupgrade/core/site_state.hpp"
#include "mupgrade/ops/adopt.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>

using namespace mupgrade;
using fakes::Crash;
using fakes::FaultPlan;
namespace fs = std::filesystem;

namespace {

const char* kMoodlePw = "moodle-db-secret";
const char* kRootPw = "root-db-secret";
const char* kVolumes = "/var/lib/docker/volumes";

struct Quiet : ops::Progress {
  void step_started(const core::Step&, size_t, size_t) override {}
  void step_ended(const core::Step&, const core::StepTiming&) override {}
  void upgrade_component(double, const std::string&) override {}
  void note(const std::string&) override {}
};

std::string config_php(const std::string& dbtype, const std::string& dbhost, const std::string& dataroot) {
  return fmt::format(
      "<?php  // Moodle configuration file\nunset($CFG);\nglobal $CFG;\n$CFG = new stdClass();\n$CFG->dbtype = '{}';\n"
      "$CFG->dblibrary = 'native';\n$CFG->dbhost = '{}';\n$CFG->dbname = 'bitnami_moodle';\n$CFG->dbuser = 'bn_moodle';\n"
      "$CFG->dbpass = '{}';\n$CFG->prefix = 'mdl_';\n$CFG->wwwroot = 'http://moodle.test:18090';\n$CFG->dataroot = '{}';\n"
      "$CFG->admin = 'admin';\n$CFG->theme = 'boost';  // the site's own setting, kept\n"
      "require_once(__DIR__ . '/lib/setup.php');\n",
      dbtype, dbhost, kMoodlePw, dataroot);
}

/// A host running a Moodle stack with Compose labels, no mupgrade site yet.
struct AdoptWorld {
  enum class Family { bitnami, moodlehq };
  explicit AdoptWorld(Family fam) : host("/pool", "http://127.0.0.1:18090"), family(fam) {
    state_dir = (fs::temp_directory_path() / fmt::format("mupgrade-unit-adopt-{}-{}", ::getpid(), counter++)).string();
    fs::remove_all(state_dir);
    auto& st = host.storage;
    st.make_dirs("/pool");
    st.make_dirs("/etc/mupgrade");
    host.containers.images.insert("mupgrade/haproxy:2.6");
    host.http.proxy_container = "mupgrade-bn-proxy";
    host.http.stack_web = "bn-moodle-1";
    bool bn = fam == Family::bitnami;
    code = bn ? std::string(kVolumes) + "/bn_moodle/_data" : "/srv/bn/html";
    moodledata = bn ? std::string(kVolumes) + "/bn_moodledata/_data" : "/srv/bn/moodledata";
    dbdir = bn ? std::string(kVolumes) + "/bn_mariadb/_data/data" : std::string(kVolumes) + "/bn_pg/_data";
    std::string dataroot = bn ? "/bitnami/moodledata" : "/var/www/moodledata";
    unsigned uid = bn ? 1001 : 33;
    st.make_dirs(code);
    st.write_file(code + "/config.php", config_php(bn ? "mariadb" : "pgsql", bn ? "mariadb" : "postgres", dataroot), {uid, uid, 0640});
    st.write_file(code + "/version.php", "<?php\n$version  = 2024042201.00;\n$release  = '4.4.1 (Build: 20240610)';\n$branch   = '404';\n", {});
    st.make_dirs(moodledata + "/filedir");
    st.set_mode(moodledata, {uid, uid, 0750});
    st.write_file(moodledata + "/filedir/ab", "a user's file", {uid, uid, 0640});
    st.make_dirs(bn ? dbdir + "/mysql" : dbdir);
    if (bn) st.write_file(dbdir + "/mysql/db.opt", "x", {1001, 1001, 0640});
    else st.write_file(dbdir + "/PG_VERSION", "15\n", {999, 999, 0600});

    ports::ContainerInfo web;
    web.id = web.name = "bn-moodle-1";
    web.image = bn ? "bitnami/moodle:4.4" : "moodlehq/moodle-php-apache:8.2";
    web.running = true;
    web.status = "running";
    web.labels = {{"com.docker.compose.project", "bn"}, {"com.docker.compose.service", "moodle"}};
    web.network_ips = {{"bn_default", "172.20.0.2"}};
    web.any_host_ports = {{8080, 18090}};
    if (bn) {
      web.mounts = {{"volume", "bn_moodle", code, "/bitnami/moodle", false}, {"volume", "bn_moodledata", moodledata, "/bitnami/moodledata", false}};
    } else {
      web.mounts = {{"bind", "", code, "/var/www/html", false}, {"bind", "", moodledata, "/var/www/moodledata", false}};
    }
    ports::ContainerInfo db;
    db.id = db.name = "bn-db-1";
    db.image = bn ? "bitnami/mariadb:10.11" : "postgres:15";
    db.running = true;
    db.status = "running";
    db.labels = {{"com.docker.compose.project", "bn"}, {"com.docker.compose.service", bn ? "mariadb" : "postgres"}};
    db.network_ips = {{"bn_default", "172.20.0.3"}};
    if (bn) {
      db.mounts = {{"volume", "bn_mariadb", std::string(kVolumes) + "/bn_mariadb/_data", "/bitnami/mariadb", false}};
      db.env = {{"MARIADB_ROOT_PASSWORD", kRootPw}};
    } else {
      db.mounts = {{"volume", "bn_pg", dbdir, "/var/lib/postgresql/data", false}, {"bind", "", "/srv/bn/secrets", "/run/secrets", true}};
      db.env = {{"POSTGRES_PASSWORD_FILE", "/run/secrets/pg_root"}};
      st.make_dirs("/srv/bn/secrets");
      st.write_file("/srv/bn/secrets/pg_root", std::string(kRootPw) + "\n", {0, 0, 0600});
    }
    host.containers.images.insert("postgres:15");
    host.containers.networks["bn_default"] = {"bn_default", "bn_default", false, {{"com.docker.compose.project", "bn"}}};
    host.containers.containers[web.name] = {{}, web};
    host.containers.containers[db.name] = {{}, db};
    // rsync SRC/ DST/: copies the fake files (what --exclude names stays out; --chown sets owners).
    host.commands.on_run = [this](const std::vector<std::string>& argv) {
      if (argv.at(0) != "/usr/bin/rsync") return ports::CommandResult{0, false, ""};
      std::string src = argv[argv.size() - 2], dst = argv[argv.size() - 1];
      src.pop_back(), dst.pop_back();
      std::vector<std::string> excluded;
      std::optional<unsigned> chown;
      for (const auto& a : argv) {
        if (a.rfind("--exclude=/", 0) == 0) excluded.push_back(a.substr(11));
        if (a.rfind("--chown=", 0) == 0) chown = unsigned(std::stoul(a.substr(8)));
      }
      auto& nodes = host.storage.nodes;
      std::map<std::string, fakes::FakeStorage::Node> copy;
      for (const auto& [p, n] : nodes) {
        if (p.rfind(src + "/", 0) != 0) continue;
        std::string rel = p.substr(src.size() + 1);
        if (std::find(excluded.begin(), excluded.end(), rel) != excluded.end()) continue;
        copy[dst + "/" + rel] = n;
        if (chown) copy[dst + "/" + rel].mode.uid = copy[dst + "/" + rel].mode.gid = *chown;
      }
      for (auto& [p, n] : copy) nodes[p] = n;
      return ports::CommandResult{0, false, ""};
    };
    req.from = "bn";
    req.pool = "/pool/bn";
    req.state_dir = state_dir;
    req.config_file = "/etc/mupgrade/bn.yml";
    req.yes = true;
    before_nodes = st.paths_under("/");
    host.faults.log.clear();
  }
  ~AdoptWorld() { fs::remove_all(state_dir); }

  ops::AdoptOutcome adopt(bool yes = true) {
    Quiet p;
    out.str("");
    auto r = req;
    r.yes = yes;
    return ops::adopt_from(host.ports(), r, p, out);
  }
  ops::AdoptOutcome undo() {
    Quiet p;
    out.str("");
    return ops::adopt_undo(host.ports(), "bn", state_dir, p, out);
  }
  bool stack_running() {
    auto w = host.containers.inspect_container("bn-moodle-1"), d = host.containers.inspect_container("bn-db-1");
    return w && w->running && d && d->running;
  }
  /// The stack runs as before adopt and nothing of the site exists.
  void expect_stack_as_before(const std::string& context) {
    EXPECT_TRUE(stack_running()) << context;
    EXPECT_EQ(host.storage.paths_under("/"), before_nodes) << context;
    EXPECT_EQ(host.containers.containers.size(), 2u) << context;
    EXPECT_EQ(host.containers.networks.size(), 1u) << context;  // the stack's own
    EXPECT_FALSE(fs::exists(state_dir)) << context;
  }
  /// Nothing was changed: no file, container, network or state, and no stack container touched.
  void expect_nothing_changed(const std::string& context) {
    expect_stack_as_before(context);
    for (const auto& line : host.faults.log)
      EXPECT_TRUE(line.rfind("storage.", 0) != 0 || line.rfind("storage.space", 0) == 0) << context << ": " << line;
  }

  static inline int counter = 0;
  fakes::FakeHost host;
  Family family;
  std::string code, moodledata, dbdir, state_dir;
  ops::AdoptRequest req;
  std::set<std::string> before_nodes;
  std::ostringstream out;
};

std::string file_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST(AdoptDiscovery, FindsABitnamiLikeStackByItsComposeProject) {
  AdoptWorld w(AdoptWorld::Family::bitnami);
  auto d = ops::discover_stack(w.host.ports(), "bn");
  const auto& f = d.facts;
  EXPECT_EQ(f.project, "bn");
  EXPECT_EQ(f.web, "bn-moodle-1");
  EXPECT_EQ(f.db, "bn-db-1");  // config.php's dbhost 'mariadb' is its Compose service
  EXPECT_EQ(f.kind, core::DbKind::mariadb);
  EXPECT_EQ(f.dbname, "bitnami_moodle");
  EXPECT_EQ(f.code.host_path, w.code);
  EXPECT_EQ(f.code.mount, "volume bn_moodle");
  EXPECT_EQ(f.moodledata.host_path, w.moodledata);
  EXPECT_EQ(f.db_data.host_path, w.dbdir);  // Bitnami's data/ under the volume
  EXPECT_EQ(f.db_data.container_path, "/bitnami/mariadb/data");
  EXPECT_EQ(f.web_uid, 1001u);
  EXPECT_EQ(f.public_port, 18090);
  EXPECT_EQ(f.mupgrade_db_user, "root");
  EXPECT_EQ(d.mupgrade_db_password.reveal(), kRootPw);
  EXPECT_EQ(d.moodle_db_password.reveal(), kMoodlePw);
  EXPECT_FALSE(f.db_image_fits);
  EXPECT_FALSE(f.web_image_fits);
  EXPECT_EQ(f.to_json().dump().find(kMoodlePw), std::string::npos);
  EXPECT_EQ(f.to_json().dump().find(kRootPw), std::string::npos);
}

TEST(AdoptDiscovery, FindsAMoodlehqLikeStackOnPostgresFromItsWebContainer) {
  AdoptWorld w(AdoptWorld::Family::moodlehq);
  auto d = ops::discover_stack(w.host.ports(), "bn-moodle-1");
  const auto& f = d.facts;
  EXPECT_EQ(f.project, "bn");
  EXPECT_EQ(f.db, "bn-db-1");
  EXPECT_EQ(f.kind, core::DbKind::postgresql);
  EXPECT_EQ(f.code.mount, "bind");
  EXPECT_EQ(f.code.container_path, "/var/www/html");
  EXPECT_EQ(f.db_data.host_path, w.dbdir);
  EXPECT_TRUE(f.db_image_fits);
  EXPECT_EQ(f.web_uid, 33u);
  EXPECT_EQ(f.mupgrade_db_user, "postgres");
  EXPECT_EQ(d.mupgrade_db_password.reveal(), kRootPw);  // from POSTGRES_PASSWORD_FILE, through the bind mount
}

TEST(AdoptDiscovery, TheSetsConfigPhpKeepsTheSitesOwnAndPointsAtTheSet) {
  std::string php = ops::adopted_config_php(config_php("mariadb", "mariadb", "/bitnami/moodledata"));
  EXPECT_EQ(core::config_php_setting(php, "dbhost"), "db");
  EXPECT_EQ(core::config_php_setting(php, "dataroot"), "/var/www/moodledata");
  EXPECT_EQ(core::config_php_setting(php, "theme"), "boost");
  EXPECT_LT(php.find("$CFG->dbhost = 'db'"), php.find("require_once(__DIR__ . '/lib/setup.php')"));
  EXPECT_THROW(ops::adopted_config_php("<?php $CFG->dbhost = 'x';"), Error);
}

TEST(AdoptDryRun, PrintsCopiesSpaceDowntimeAndConfigAndChangesNothing) {
  AdoptWorld w(AdoptWorld::Family::bitnami);
  auto o = w.adopt(false);
  ASSERT_TRUE(o.ok) << o.error;
  EXPECT_TRUE(o.dry_run);
  std::string text = w.out.str();
  for (const char* s : {"/bitnami/moodledata", "/pool/bn/sets/", "space:", "expected downtime", "site config to write (/etc/mupgrade/bn.yml)",
                        "mupgrade/mariadb:10.11", "climaintenance.html", "--yes"})
    EXPECT_NE(text.find(s), std::string::npos) << s << "\n" << text;
  EXPECT_EQ(text.find(kMoodlePw), std::string::npos);
  EXPECT_EQ(text.find(kRootPw), std::string::npos);
  w.expect_nothing_changed("dry run");
}

struct Refusal {
  const char* name;
  std::function<void(AdoptWorld&)> arrange;
  const char* says;
};

TEST(AdoptRefusals, EachRefusesInOneLineAndChangesNothing) {
  std::vector<Refusal> cases = {
      {"no such project", [](AdoptWorld& w) { w.req.from = "nope"; }, "no Compose project and no container named 'nope'"},
      {"MySQL", [](AdoptWorld& w) { w.host.db.version_answer = "8.0.36"; }, "MySQL"},
      {"old MariaDB", [](AdoptWorld& w) { w.host.db.version_answer = "10.3.39-MariaDB"; }, "older than 10.6"},
      {"unknown engine", [](AdoptWorld& w) { w.host.storage.write_file(w.code + "/config.php", config_php("sqlsrv", "mariadb", "/bitnami/moodledata"), {}); },
       "not MariaDB or PostgreSQL"},
      {"moodledata on NFS", [](AdoptWorld& w) { w.host.storage.fs_types[w.moodledata] = "nfs"; }, "network filesystem (nfs)"},
      {"no space", [](AdoptWorld& w) { w.host.storage.free_bytes = 1ULL << 30; }, "not enough space"},
      {"mid-upgrade", [](AdoptWorld& w) { w.host.db.live_version = "2023100900.00"; }, "mid-upgrade"},
      {"upgrade running", [](AdoptWorld& w) { w.host.db.upgrade_running = "1764400000"; }, "upgrade is running"},
      {"stack stopped", [](AdoptWorld& w) { w.host.containers.containers["bn-db-1"].info.running = false; }, "not running"},
      {"no rsync", [](AdoptWorld& w) { w.host.commands.missing.insert("/usr/bin/rsync"); }, "rsync"},
      {"site exists", [](AdoptWorld& w) { w.host.storage.write_file("/etc/mupgrade/bn.yml", "site: bn\n", {}); }, "exists already"},
  };
  for (const auto& c : cases) {
    AdoptWorld w(AdoptWorld::Family::bitnami);
    bool stopped = std::string(c.name) == "stack stopped";
    c.arrange(w);
    w.before_nodes = w.host.storage.paths_under("/");
    w.host.faults.log.clear();
    try {
      w.adopt();
      ADD_FAILURE() << c.name << ": not refused";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.says), std::string::npos) << c.name << ": " << e.what();
      EXPECT_FALSE(e.hint().empty()) << c.name;
    }
    if (stopped) w.host.containers.containers["bn-db-1"].info.running = true;
    w.expect_nothing_changed(c.name);
  }
}

TEST(Adopt, AdoptsTheStackThenUndoBringsItBack) {
  for (auto fam : {AdoptWorld::Family::bitnami, AdoptWorld::Family::moodlehq}) {
    AdoptWorld w(fam);
    auto o = w.adopt();
    ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
    auto& st = w.host.storage;
    std::string set = "/pool/bn/sets/" + o.set;
    // The set holds the stack's data, moodledata owned by www-data, and its own config.php.
    EXPECT_EQ(st.read_file(set + "/moodledata/filedir/ab"), "a user's file");
    EXPECT_EQ(st.file_mode(set + "/moodledata/filedir/ab")->uid, 33u);
    EXPECT_TRUE(st.exists(set + (fam == AdoptWorld::Family::bitnami ? "/db/mysql/db.opt" : "/db/PG_VERSION")));
    EXPECT_EQ(core::config_php_setting(st.read_file(set + "/code/config.php").value_or(""), "dbhost"), "db");
    EXPECT_EQ(st.file_mode(set + "/code/config.php")->mode, 0640u);
    EXPECT_FALSE(st.exists(set + "/moodledata/climaintenance.html"));
    // Behind the proxy on the stack's public port; the old stack stopped, in Moodle's maintenance.
    EXPECT_EQ(w.host.http.serving, o.set);
    EXPECT_EQ(w.host.containers.containers["mupgrade-bn-proxy"].spec.ports.at(0).host_port, 18090);
    EXPECT_FALSE(w.stack_running());
    EXPECT_TRUE(st.exists(w.moodledata + "/climaintenance.html"));
    EXPECT_EQ(st.read_file(w.code + "/config.php"), config_php(fam == AdoptWorld::Family::bitnami ? "mariadb" : "pgsql",
                                                               fam == AdoptWorld::Family::bitnami ? "mariadb" : "postgres",
                                                               fam == AdoptWorld::Family::bitnami ? "/bitnami/moodledata" : "/var/www/moodledata"));
    auto yaml = st.read_file("/etc/mupgrade/bn.yml");
    ASSERT_TRUE(yaml);
    auto cfg = config::parse_site_config(*yaml, "bn.yml");
    EXPECT_EQ(cfg.db.user, fam == AdoptWorld::Family::bitnami ? "root" : "postgres");
    EXPECT_EQ(cfg.db.image, fam == AdoptWorld::Family::bitnami ? "mupgrade/mariadb:10.11" : "postgres:15");
    EXPECT_EQ(cfg.web_image, "mupgrade/web:php8.2");
    EXPECT_EQ(file_text(cfg.db.password_file), kRootPw);
    EXPECT_EQ(fs::status(cfg.db.password_file).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
    EXPECT_EQ(core::load_site_state(w.state_dir)->live_set, o.set);
    // No secret in the journal, the YAML or an argv.
    EXPECT_EQ(file_text(o.journal).find(kMoodlePw), std::string::npos);
    EXPECT_EQ(file_text(o.journal).find(kRootPw), std::string::npos);
    EXPECT_EQ(yaml->find(kRootPw), std::string::npos);
    for (const auto& line : w.host.faults.log) EXPECT_EQ(line.find(kMoodlePw), std::string::npos) << line;
    // The downtime is the window: maintenance on to the set seen through the proxy.
    EXPECT_GE(o.downtime_s, 0.0);
    EXPECT_EQ(o.timings.size(), ops::adopt_step_names().size());

    auto u = w.undo();
    ASSERT_TRUE(u.ok) << u.error;
    w.expect_stack_as_before("after undo");
  }
}

TEST(Adopt, UndoIsRefusedWithoutAnAdoptionAndAfterACutover) {
  AdoptWorld w(AdoptWorld::Family::bitnami);
  EXPECT_THROW(w.undo(), UsageError);
  auto o = w.adopt();
  ASSERT_TRUE(o.ok) << o.error;
  auto st = *core::load_site_state(w.state_dir);
  st.live_set = "20261129T1200Z-4.4.3";
  core::save_site_state(w.state_dir, st);
  try {
    w.undo();
    ADD_FAILURE() << "undo after a cutover";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("moved on"), std::string::npos) << e.what();
  }
}

TEST(Adopt, AFailureAtEveryCallIsUndoneAndTheStackServesAsBefore) {
  size_t calls = 0;
  {
    AdoptWorld w(AdoptWorld::Family::bitnami);
    ASSERT_TRUE(w.adopt().ok);
    calls = w.host.faults.log.size();
  }
  ASSERT_GT(calls, 20u);
  for (size_t i = 0; i < calls; ++i) {
    AdoptWorld w(AdoptWorld::Family::bitnami);
    w.host.faults.at_call(i, FaultPlan::Kind::fail);
    std::string ctx = fmt::format("failure at call {}", i);
    std::string fired;
    try {
      auto o = w.adopt();
      if (o.ok) {
        // The one call adopt survives: the superuser probe, after which it uses Moodle's DB user.
        EXPECT_EQ(w.host.faults.fired.rfind("db.server_version", 0), 0u) << ctx << ": " << w.host.faults.fired;
        EXPECT_NE(w.out.str().find("connects as Moodle's DB user"), std::string::npos) << ctx;
        fired = w.host.faults.fired;
        w.host.faults.clear();
        ASSERT_TRUE(w.undo().ok) << ctx;
      }
      EXPECT_TRUE(o.undo_failures.empty()) << ctx;
    } catch (const Error&) {
      // a refusal before any step: nothing made
    }
    if (fired.empty()) fired = w.host.faults.fired;
    EXPECT_FALSE(fired.empty()) << ctx;
    w.expect_stack_as_before(ctx + " (" + fired + ")");
  }
}

TEST(Adopt, AKillAtEveryCallLeavesTheStackRecoverableByUndoOrByAdoptAgain) {
  size_t calls = 0;
  {
    AdoptWorld w(AdoptWorld::Family::bitnami);
    ASSERT_TRUE(w.adopt().ok);
    calls = w.host.faults.log.size();
  }
  for (size_t i = 0; i < calls; ++i) {
    for (bool again : {false, true}) {
      AdoptWorld w(AdoptWorld::Family::bitnami);
      w.host.faults.at_call(i, FaultPlan::Kind::crash);
      std::string ctx = fmt::format("kill at call {} then {}", i, again ? "adopt again" : "undo");
      EXPECT_THROW(w.adopt(), Crash) << ctx;
      ASSERT_FALSE(w.host.faults.fired.empty()) << ctx;
      ctx += " (" + w.host.faults.fired + ")";
      w.host.faults.clear();
      if (again) {
        auto o = w.adopt();
        ASSERT_TRUE(o.ok) << ctx << ": " << o.failed_step << " " << o.error;
        EXPECT_EQ(w.host.http.serving, o.set) << ctx;
        ASSERT_TRUE(w.undo().ok) << ctx;
        w.expect_stack_as_before(ctx);
      } else if (fs::exists(w.state_dir + "/journal/adopt")) {
        ASSERT_TRUE(w.undo().ok) << ctx;
        w.expect_stack_as_before(ctx);
      } else {
        // Killed before its journal: nothing to undo; adopt again starts over.
        auto o = w.adopt();
        ASSERT_TRUE(o.ok) << ctx << ": " << o.failed_step << " " << o.error;
        ASSERT_TRUE(w.undo().ok) << ctx;
        w.expect_stack_as_before(ctx);
      }
    }
  }
}

// kill -9 while Docker stops the stack's DB (or web): the stop goes on in the daemon after the
// undo looked, so a container that still showed running must be waited out and started again.
TEST(Adopt, AKillWhileTheStackStopsIsUndoneWithTheStackRunningAfterTheStopEnds) {
  for (const char* which : {"bn-moodle-1", "bn-db-1"}) {
    AdoptWorld w(AdoptWorld::Family::bitnami);
    std::string ctx = std::string("kill while stopping ") + which;
    w.host.faults.add(std::string("containers.stop ") + which, 1, FaultPlan::Kind::crash);
    w.host.faults.on_fire = [&] { w.host.containers.stopping.insert(which); };  // the request reached the daemon
    EXPECT_THROW(w.adopt(), Crash) << ctx;
    ASSERT_EQ(w.host.faults.fired, std::string("containers.stop ") + which) << ctx;
    w.host.faults.clear();
    w.host.faults.on_fire = nullptr;
    ASSERT_TRUE(w.undo().ok) << ctx << ": " << w.out.str();
    w.host.containers.settle_stops();  // whatever the daemon was still stopping has stopped
    w.expect_stack_as_before(ctx);
  }
}
