// `mupgrade adopt --from` and `adopt --undo` over the recording fakes: discovery of each
// family (Bitnami-like: named volumes under /bitnami, uid 1001, MariaDB; moodlehq-like: code
// bind-mounted at /var/www/html, www-data, PostgreSQL), the dry run, the refusals that change
// nothing, adopt then undo, and a failure and a crash (kill -9) at every call, after which the
// old stack is recoverable and no secret reaches an argv or the journal.

#include "fakes/fakes.hpp"

#include "mupgrade/config/load.hpp"
#include "mupgrade/core/site_lock.hpp"
#include "mupgrade/core/site_state.hpp"
#include "mupgrade/ops/adopt.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <signal.h>
#include <sys/wait.h>
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
const char* kVersionPhp = "<?php\n$version  = 2024042201.00;\n$release  = '4.4.1 (Build: 20240610)';\n$branch   = '404';\n";
const char* kPluginVersion = "<?php\n$plugin->component = 'local_webplugin';\n$plugin->version = 2024100100;\n";

struct Quiet : ops::Progress {
  void step_started(const core::Step&, size_t, size_t) override {}
  void step_ended(const core::Step&, const core::StepTiming&) override {}
  void upgrade_component(double, const std::string&) override {}
  void note(const std::string&) override {}
};

std::string config_php(const std::string& dbtype, const std::string& dbhost, const std::string& dataroot, const std::string& extra = "") {
  return fmt::format(
      "<?php  // Moodle configuration file\nunset($CFG);\nglobal $CFG;\n$CFG = new stdClass();\n$CFG->dbtype = '{}';\n"
      "$CFG->dblibrary = 'native';\n$CFG->dbhost = '{}';\n$CFG->dbname = 'bitnami_moodle';\n$CFG->dbuser = 'bn_moodle';\n"
      "$CFG->dbpass = '{}';\n$CFG->prefix = 'mdl_';\n$CFG->wwwroot = 'http://moodle.test:18090';\n$CFG->dataroot = '{}';\n"
      "$CFG->admin = 'admin';\n$CFG->theme = 'boost';  // the site's own setting, kept\n{}"
      "require_once(__DIR__ . '/lib/setup.php');\n",
      dbtype, dbhost, kMoodlePw, dataroot, extra);
}

// Sessions in the stack's Redis, as config-dist.php shows them.
const char* kRedisSessions =
    "$CFG->session_handler_class = '\\core\\session\\redis';\n$CFG->session_redis_host = 'redis';\n$CFG->session_redis_port = 6379;\n";
// A Redis MUC store on the stack's Redis, as var_export writes muc/config.php (abridged).
const char* kMucConfig =
    "<?php defined('MOODLE_INTERNAL') || die();\n $configuration = array (\n  'stores' => \n  array (\n    'default_application' => \n    array (\n"
    "      'name' => 'default_application',\n      'plugin' => 'file',\n      'configuration' => \n      array (\n      ),\n    ),\n"
    "    'redis1' => \n    array (\n      'name' => 'redis1',\n      'plugin' => 'redis',\n      'configuration' => \n      array (\n"
    "        'server' => 'redis:6379',\n        'prefix' => 'muc_',\n        'password' => 'muc-secret',\n      ),\n"
    "      'class' => 'cachestore_redis',\n    ),\n  ),\n);\n";

// The probe's `id USER` in an image: Debian's system users in the project's images, 999 in the
// official postgres image.
std::pair<int, std::string> id_in_image(const ports::ContainerSpec& spec) {
  if (spec.entrypoint.size() != 2 || spec.entrypoint[0] != "id") return {0, ""};
  const auto& u = spec.entrypoint[1];
  if (spec.image == "postgres:15" && u == "postgres") return {0, "uid=999(postgres) gid=999(postgres) groups=999(postgres)\n"};
  if (spec.image.rfind("mupgrade/", 0) != 0) return {1, "id: '" + u + "': no such user\n"};
  if (u == "mysql") return {0, "uid=100(mysql) gid=101(mysql) groups=101(mysql)\n"};
  if (u == "postgres") return {0, "uid=100(postgres) gid=102(postgres) groups=102(postgres),101(ssl-cert)\n"};
  if (u == "redis") return {0, "uid=100(redis) gid=101(redis) groups=101(redis)\n"};
  return {1, "id: '" + u + "': no such user\n"};
}

/// A host running a Moodle stack with Compose labels, no mupgrade site yet.
struct AdoptWorld {
  // image: moodlehq-like on PostgreSQL, but the code is built into the web image (no mount
  // holds it), with a plugin an admin installed through the web UI in the container's layer.
  enum class Family { bitnami, moodlehq, alpine, image };
  explicit AdoptWorld(Family fam) : host("/pool", "http://127.0.0.1:18090"), family(fam) {
    state_dir = (fs::temp_directory_path() / fmt::format("mupgrade-unit-adopt-{}-{}", ::getpid(), counter++)).string();
    fs::remove_all(state_dir);
    auto& st = host.storage;
    st.make_dirs("/pool");
    st.make_dirs("/etc/mupgrade");
    host.containers.images.insert("mupgrade/haproxy:2.6");
    host.containers.run_entrypoint = id_in_image;
    host.http.proxy_container = "mupgrade-bn-proxy";
    host.http.stack_web = "bn-moodle-1";
    bool bn = fam == Family::bitnami, al = fam == Family::alpine, img = fam == Family::image;
    code = bn ? std::string(kVolumes) + "/bn_moodle/_data" : al ? "/srv/al/moodle-code" : img ? "" : "/srv/bn/html";
    moodledata = bn || al ? std::string(kVolumes) + (al ? "/al_moodledata/_data" : "/bn_moodledata/_data") : "/srv/bn/moodledata";
    dbdir = bn ? std::string(kVolumes) + "/bn_mariadb/_data/data" : std::string(kVolumes) + (al ? "/al_pg/_data/pgdata" : "/bn_pg/_data");
    std::string dataroot = bn ? "/bitnami/moodledata" : al ? "/var/lib/moodledata" : "/var/www/moodledata";
    unsigned uid = bn ? 1001 : al ? 82 : 33;  // Bitnami's daemon, Debian's and Alpine's www-data
    std::string php = config_php(bn ? "mariadb" : "pgsql", bn ? "mariadb" : "postgres", dataroot, al ? kRedisSessions : "");
    if (img) {
      using Node = fakes::FakeStorage::Node;
      host.containers.layers["bn-moodle-1"] = {{"/var/www/html", {Node::Kind::dir, "", {0, 0, 0755}}},
                                               {"/var/www/html/config.php", {Node::Kind::file, php, {0, 33, 0640}}},
                                               {"/var/www/html/version.php", {Node::Kind::file, kVersionPhp, {0, 0, 0644}}},
                                               {"/var/www/html/local/webplugin", {Node::Kind::dir, "", {33, 33, 0755}}},
                                               {"/var/www/html/local/webplugin/version.php", {Node::Kind::file, kPluginVersion, {33, 33, 0644}}}};
      // Docker's listing of that layer: the plugin, with the dirs above it.
      using C = ports::FileChange;
      host.containers.changes["bn-moodle-1"] = {{"/var", C::Kind::modified},
                                                {"/var/www", C::Kind::modified},
                                                {"/var/www/html", C::Kind::modified},
                                                {"/var/www/html/local", C::Kind::modified},
                                                {"/var/www/html/local/webplugin", C::Kind::added},
                                                {"/var/www/html/local/webplugin/version.php", C::Kind::added},
                                                {"/run/apache2/apache2.pid", C::Kind::added}};
    } else {
      st.make_dirs(code);
      st.write_file(code + "/config.php", php, {uid, uid, 0640});
      st.write_file(code + "/version.php", kVersionPhp, {});
    }
    st.make_dirs(moodledata + "/filedir");
    st.set_mode(moodledata, {uid, uid, 0750});
    st.write_file(moodledata + "/filedir/ab", "a user's file", {uid, uid, 0640});
    if (al) st.make_dirs(moodledata + "/muc"), st.write_file(moodledata + "/muc/config.php", kMucConfig, {uid, uid, 0640});
    st.make_dirs(bn ? dbdir + "/mysql" : dbdir);
    if (bn) st.write_file(dbdir + "/mysql/db.opt", "x", {1001, 1001, 0640});
    else st.write_file(dbdir + "/PG_VERSION", "15\n", {al ? 70u : 999u, al ? 70u : 999u, 0600});  // Alpine's postgres is uid 70
    if (bn) st.set_mode(dbdir, {1001, 1001, 0700});
    else st.set_mode(dbdir, {al ? 70u : 999u, al ? 70u : 999u, 0700});

    ports::ContainerInfo web;
    web.id = web.name = "bn-moodle-1";
    web.image = bn ? "bitnami/moodle:4.4" : al ? "example/moodle:4.4-alpine" : img ? "example/moodle-baked:4.4" : "moodlehq/moodle-php-apache:8.2";
    web.running = true;
    web.status = "running";
    web.labels = {{"com.docker.compose.project", "bn"}, {"com.docker.compose.service", "moodle"}};
    web.network_ips = {{"bn_default", "172.20.0.2"}};
    web.any_host_ports = {{8080, 18090}};
    if (bn) {
      web.mounts = {{"volume", "bn_moodle", code, "/bitnami/moodle", false}, {"volume", "bn_moodledata", moodledata, "/bitnami/moodledata", false}};
    } else if (al) {
      web.mounts = {{"bind", "", code, "/srv/moodle", false}, {"volume", "al_moodledata", moodledata, "/var/lib/moodledata", false}};
    } else if (img) {
      web.mounts = {{"bind", "", moodledata, "/var/www/moodledata", false}};
    } else {
      web.mounts = {{"bind", "", code, "/var/www/html", false}, {"bind", "", moodledata, "/var/www/moodledata", false}};
    }
    ports::ContainerInfo db;
    db.id = db.name = "bn-db-1";
    db.image = bn ? "bitnami/mariadb:10.11" : al ? "postgres:15-alpine" : "postgres:15";
    db.running = true;
    db.status = "running";
    db.labels = {{"com.docker.compose.project", "bn"}, {"com.docker.compose.service", bn ? "mariadb" : "postgres"}};
    db.network_ips = {{"bn_default", "172.20.0.3"}};
    if (bn) {
      db.mounts = {{"volume", "bn_mariadb", std::string(kVolumes) + "/bn_mariadb/_data", "/bitnami/mariadb", false}};
      db.env = {{"MARIADB_ROOT_PASSWORD", kRootPw}};
    } else {
      std::string vol = al ? "al_pg" : "bn_pg";
      db.mounts = {{"volume", vol, std::string(kVolumes) + "/" + vol + "/_data", "/var/lib/postgresql/data", false},
                   {"bind", "", "/srv/bn/secrets", "/run/secrets", true}};
      db.env = {{"POSTGRES_PASSWORD_FILE", "/run/secrets/pg_root"}};
      if (al) db.env["PGDATA"] = "/var/lib/postgresql/data/pgdata";
      st.make_dirs("/srv/bn/secrets");
      st.write_file("/srv/bn/secrets/pg_root", std::string(kRootPw) + "\n", {0, 0, 0600});
    }
    if (al) {
      ports::ContainerInfo redis;
      redis.id = redis.name = "bn-redis-1";
      redis.image = "redis:7-alpine";
      redis.running = true;
      redis.status = "running";
      redis.labels = {{"com.docker.compose.project", "bn"}, {"com.docker.compose.service", "redis"}};
      redis.network_ips = {{"bn_default", "172.20.0.4"}};
      redis.mounts = {{"volume", "al_redis", redis_dir, "/var/lib/redis", false}};
      st.make_dirs(redis_dir);
      st.write_file(redis_dir + "/moodle.rdb", "the stack's sessions, saved at its last save point", {999, 999, 0600});
      host.containers.redis_config[redis.name] = {"/var/lib/redis", "moodle.rdb"};
      host.containers.containers[redis.name] = {{}, redis};
    }
    host.containers.images.insert("postgres:15");
    host.containers.networks["bn_default"] = {"bn_default", "bn_default", false, {{"com.docker.compose.project", "bn"}}};
    host.containers.containers[web.name] = {{}, web};
    host.containers.containers[db.name] = {{}, db};
    // rsync SRC/ DST/: copies the fake files (what --exclude names stays out; --chown sets owners).
    host.commands.on_run = [this](const std::vector<std::string>& argv) {
      if (argv.at(0) != "/usr/bin/rsync") return ports::CommandResult{0, false, ""};
      std::string src = argv[argv.size() - 2], dst = argv[argv.size() - 1];
      bool one_file = src.back() != '/';
      if (!one_file) src.pop_back(), dst.pop_back();
      std::vector<std::string> excluded;
      std::optional<std::pair<unsigned, unsigned>> chown;
      for (const auto& a : argv) {
        if (a.rfind("--exclude=/", 0) == 0) excluded.push_back(a.substr(11));
        if (a.rfind("--chown=", 0) == 0) chown = std::pair{unsigned(std::stoul(a.substr(8))), unsigned(std::stoul(a.substr(a.find(':') + 1)))};
      }
      auto& nodes = host.storage.nodes;
      if (one_file) {
        if (!nodes.count(src)) return ports::CommandResult{23, false, "rsync: link_stat \"" + src + "\" failed: No such file or directory (2)"};
        nodes[dst] = nodes[src];
        if (chown) nodes[dst].mode.uid = chown->first, nodes[dst].mode.gid = chown->second;
        return ports::CommandResult{0, false, ""};
      }
      std::map<std::string, fakes::FakeStorage::Node> copy;
      for (const auto& [p, n] : nodes) {
        if (p.rfind(src + "/", 0) != 0) continue;
        std::string rel = p.substr(src.size() + 1);
        if (std::find(excluded.begin(), excluded.end(), rel) != excluded.end()) continue;
        copy[dst + "/" + rel] = n;
        if (chown) copy[dst + "/" + rel].mode.uid = chown->first, copy[dst + "/" + rel].mode.gid = chown->second;
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
    auto r = host.containers.inspect_container("bn-redis-1");
    return w && w->running && d && d->running && (family != Family::alpine || (r && r->running));
  }
  size_t stack_containers() const { return family == Family::alpine ? 3 : 2; }
  /// The stack runs as before adopt and nothing of the site exists.
  void expect_stack_as_before(const std::string& context) {
    EXPECT_TRUE(stack_running()) << context;
    EXPECT_EQ(host.storage.paths_under("/"), before_nodes) << context;
    EXPECT_EQ(host.containers.containers.size(), stack_containers()) << context;
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
  std::string redis_dir = std::string(kVolumes) + "/al_redis/_data";
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

TEST(AdoptDiscovery, FindsCodeBuiltIntoTheWebImageInTheRunningContainer) {
  AdoptWorld w(AdoptWorld::Family::image);
  w.host.faults.log.clear();
  auto d = ops::discover_stack(w.host.ports(), "bn");
  const auto& f = d.facts;
  EXPECT_EQ(f.web, "bn-moodle-1");
  EXPECT_TRUE(f.code.in_image());
  EXPECT_EQ(f.code.container_path, "/var/www/html");
  EXPECT_EQ(f.code.host_path, "");
  EXPECT_EQ(f.code.bytes, 5u * 4096);  // du's blocks: three dirs, three files, the plugin in the container's layer included
  EXPECT_EQ(f.db, "bn-db-1");   // config.php read out of the container
  EXPECT_EQ(f.kind, core::DbKind::postgresql);
  EXPECT_EQ(f.code_version, "2024042201.00");
  EXPECT_EQ(d.moodle_db_password.reveal(), kMoodlePw);
  EXPECT_EQ(f.moodledata.host_path, w.moodledata);
  ASSERT_FALSE(f.notes.empty());
  EXPECT_NE(f.notes[0].find("a plugin installed, updated or removed meanwhile comes along"), std::string::npos) << f.notes[0];
  EXPECT_EQ(ops::StackFacts::from_json(f.to_json()).to_json(), f.to_json()) << "the undo reads the facts back from the journal";
  // The mounts first; then the serving container's files, read through the archive; the only
  // command run in it is du, sizing the code (the tree is not streamed to size it).
  bool read = false;
  for (const auto& line : w.host.faults.log) {
    if (line.rfind("containers.exec", 0) == 0) {
      EXPECT_EQ(line, "containers.exec bn-moodle-1: du -s -x -k /var/www/html");
    }
    EXPECT_NE(line, "containers.copy_from bn-moodle-1:/var/www/html");
    read = read || line == "containers.read_file bn-moodle-1:/var/www/html/config.php";
  }
  EXPECT_TRUE(read);

  // An image without du: the size of Docker's archive of the tree (a tar's headers and blocks).
  w.host.containers.no_du.insert("bn-moodle-1");
  w.host.faults.log.clear();
  auto archived = ops::discover_stack(w.host.ports(), "bn").facts.code.bytes;
  EXPECT_GT(archived, 0u);
  EXPECT_NE(archived, 5u * 4096);
  EXPECT_NE(w.host.faults.find("containers.copy_from bn-moodle-1:/var/www/html"), std::string::npos);
}

TEST(AdoptDiscovery, FindsImageCodeAtApachesDocumentRootWithA51PublicDir) {
  AdoptWorld w(AdoptWorld::Family::image);
  auto& layer = w.host.containers.layers["bn-moodle-1"];
  std::map<std::string, fakes::FakeStorage::Node> moved;
  for (const auto& [path, node] : layer) moved["/app/moodle" + path.substr(std::string("/var/www/html").size())] = node;
  moved["/app/moodle/public"] = moved["/app/moodle"];
  moved["/app/moodle/public/version.php"] = moved["/app/moodle/version.php"];
  moved.erase("/app/moodle/version.php");
  moved["/etc/apache2/sites-enabled/000-default.conf"] = {fakes::FakeStorage::Node::Kind::file,
                                                          "<VirtualHost *:80>\n  ServerAdmin webmaster@localhost\n"
                                                          "  DocumentRoot \"${MOODLE_DOCROOT}\"\n</VirtualHost>\n",
                                                          {0, 0, 0644}};
  layer = moved;
  w.host.containers.containers["bn-moodle-1"].info.env["MOODLE_DOCROOT"] = "/app/moodle/public";
  auto f = ops::discover_stack(w.host.ports(), "bn").facts;
  EXPECT_EQ(f.code.container_path, "/app/moodle");  // the dir above public/: config.php is there
  EXPECT_EQ(f.code_version, "2024042201.00");       // from public/version.php
}

TEST(AdoptDiscovery, FindsAnAlpineLikeStacksRedisThroughConfigPhpAndItsMucConfig) {
  AdoptWorld w(AdoptWorld::Family::alpine);
  auto d = ops::discover_stack(w.host.ports(), "bn");
  const auto& f = d.facts;
  EXPECT_EQ(f.redis, "bn-redis-1");  // session_redis_host 'redis' is its Compose service
  EXPECT_EQ(f.redis_host, "redis");
  EXPECT_TRUE(f.redis_sessions);
  EXPECT_TRUE(f.redis_muc);
  EXPECT_EQ(f.cache_data.container_path, "/var/lib/redis");  // CONFIG GET dir
  EXPECT_EQ(f.cache_data.host_path, w.redis_dir);
  EXPECT_EQ(f.cache_data.mount, "volume al_redis");
  EXPECT_EQ(f.redis_dump, "moodle.rdb");
  EXPECT_EQ(f.db_data.container_path, "/var/lib/postgresql/data/pgdata");  // PGDATA, a subdir of the volume
  EXPECT_EQ(f.db_data.host_path, w.dbdir);
  EXPECT_FALSE(f.db_image_fits);
  EXPECT_EQ(f.web_uid, 82u);
  EXPECT_EQ(f.code.container_path, "/srv/moodle");
  auto back = ops::StackFacts::from_json(f.to_json());
  EXPECT_EQ(back.to_json(), f.to_json()) << "the undo reads the facts back from the journal";

  // MUC only (sessions in files): the Redis is still found, through muc/config.php alone.
  w.host.storage.write_file(w.code + "/config.php", config_php("pgsql", "postgres", "/var/lib/moodledata"), {82, 82, 0640});
  auto muc_only = ops::discover_stack(w.host.ports(), "bn").facts;
  EXPECT_EQ(muc_only.redis, "bn-redis-1");
  EXPECT_FALSE(muc_only.redis_sessions);
  EXPECT_TRUE(muc_only.redis_muc);
  // Named nowhere: not carried, and said so.
  w.host.storage.remove(w.moodledata + "/muc/config.php");
  auto none = ops::discover_stack(w.host.ports(), "bn").facts;
  EXPECT_TRUE(none.redis.empty());
  ASSERT_EQ(none.notes.size(), 1u);
  EXPECT_NE(none.notes[0].find("bn-redis-1 (redis:7-alpine) looks like a Redis"), std::string::npos) << none.notes[0];
}

TEST(AdoptDiscovery, TheSetsMucConfigPointsItsRedisStoreAtTheSetsRedis) {
  EXPECT_EQ(ops::muc_redis_hosts(kMucConfig), std::vector<std::string>{"redis"});
  std::string set = ops::adopted_muc_config(kMucConfig, "redis");
  EXPECT_EQ(ops::muc_redis_hosts(set), std::vector<std::string>{"cache"});
  EXPECT_NE(set.find("'server' => 'cache',"), std::string::npos) << set;
  EXPECT_NE(set.find("'password' => '',"), std::string::npos) << set;  // the set's Redis asks for none
  EXPECT_EQ(set.find("muc-secret"), std::string::npos);
  EXPECT_NE(set.find("'prefix' => 'muc_',"), std::string::npos);
  EXPECT_NE(set.find("'plugin' => 'file',"), std::string::npos);
  EXPECT_EQ(ops::adopted_muc_config(kMucConfig, "another"), kMucConfig);
  EXPECT_EQ(ops::muc_redis_hosts("'plugin' => 'redis', 'configuration' => array('server' => 'tls://r1:6380\nr2', 'prefix' => 'x')"),
            std::vector<std::string>{"r1"});
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
      {"DB image without its user",
       [](AdoptWorld& w) {
         w.req.db_image = "example/mariadb:10.11";
         w.host.containers.images.insert(w.req.db_image);
       },
       "cannot tell which uid the user mysql has in image example/mariadb:10.11"},
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

TEST(AdoptRefusals, ARedisMupgradeCannotCarryIsRefusedInOneLineAndNothingChanges) {
  std::vector<Refusal> cases = {
      {"Redis asks for a password", [](AdoptWorld& w) { w.host.containers.redis_noauth.insert("bn-redis-1"); },
       "Redis bn-redis-1 cannot be read (redis-cli CONFIG GET dir: NOAUTH Authentication required.)"},
      {"Redis's dump in its own layer", [](AdoptWorld& w) { w.host.containers.redis_config["bn-redis-1"].first = "/data"; },
       "keeps its dump in /data, in no volume or bind mount"},
      {"Redis elsewhere",
       [](AdoptWorld& w) {
         w.host.storage.write_file(w.code + "/config.php",
                                   config_php("pgsql", "postgres", "/var/lib/moodledata", "$CFG->session_handler_class = '\\core\\session\\redis';\n"
                                                                                         "$CFG->session_redis_host = 'redis.example.org';\n"),
                                   {82, 82, 0640});
         w.host.storage.remove(w.moodledata + "/muc/config.php");
       },
       "Moodle's Redis host 'redis.example.org' is no container of 'bn'"},
      {"two Redis",
       [](AdoptWorld& w) {
         std::string muc = kMucConfig;
         muc.replace(muc.find("redis:6379"), 10, "redis2:6379");
         w.host.storage.write_file(w.moodledata + "/muc/config.php", muc, {82, 82, 0640});
       },
       "Moodle uses 2 Redis servers (redis, redis2)"},
      {"Redis stopped", [](AdoptWorld& w) { w.host.containers.containers["bn-redis-1"].info.running = false; }, "Redis bn-redis-1 is not running"},
  };
  for (const auto& c : cases) {
    AdoptWorld w(AdoptWorld::Family::alpine);
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
    if (std::string(c.name) == "Redis stopped") w.host.containers.containers["bn-redis-1"].info.running = true;
    w.expect_nothing_changed(c.name);
  }
}

TEST(AdoptRefusals, NoMoodleCodeInAnyMountOrContainerIsRefusedInOneLineAndNothingChanges) {
  AdoptWorld w(AdoptWorld::Family::image);
  w.host.containers.layers.clear();
  w.host.faults.log.clear();
  try {
    w.adopt(false);
    ADD_FAILURE() << "not refused";
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("no container of 'bn' has Moodle's code (config.php and version.php)"), std::string::npos) << what;
    EXPECT_NE(what.find("/var/www/html, /var/www/moodle"), std::string::npos) << what;  // where it looked
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    EXPECT_FALSE(e.hint().empty());
  }
  w.expect_nothing_changed("no code");
}

TEST(Adopt, CodeBuiltIntoTheImageIsCopiedOutOfTheRunningContainerThenUndoBringsTheStackBack) {
  AdoptWorld w(AdoptWorld::Family::image);
  auto dry = w.adopt(false);
  ASSERT_TRUE(dry.ok) << dry.error;
  std::string text = w.out.str();
  EXPECT_NE(text.find("code       from the image of container bn-moodle-1 at /var/www/html ("), std::string::npos) << text;
  EXPECT_NE(text.find("a plugin installed, updated or removed meanwhile comes along"), std::string::npos) << text;
  w.expect_nothing_changed("dry run");

  auto o = w.adopt();
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  auto& st = w.host.storage;
  std::string code = "/pool/bn/sets/" + o.set + "/code";
  EXPECT_TRUE(st.is_subvolume(code));
  EXPECT_EQ(st.read_file(code + "/version.php"), kVersionPhp);
  // The plugin installed through the web UI (the container's layer, not its image) came along,
  // with the owners and modes it has there.
  EXPECT_EQ(st.read_file(code + "/local/webplugin/version.php"), kPluginVersion);
  EXPECT_EQ(st.file_mode(code + "/local/webplugin/version.php")->uid, 33u);
  EXPECT_EQ(st.file_mode(code + "/version.php")->uid, 0u);
  // The set's own config.php.
  EXPECT_EQ(core::config_php_setting(st.read_file(code + "/config.php").value_or(""), "dbhost"), "db");
  EXPECT_EQ(st.file_mode(code + "/config.php")->mode, 0640u);
  EXPECT_EQ(w.host.http.serving, o.set);
  size_t copies = 0;
  for (const auto& line : w.host.faults.log) copies += line.rfind("containers.copy_from bn-moodle-1:/var/www/html -> ", 0) == 0;
  EXPECT_EQ(copies, 1u) << "the whole tree copied once, before the window";
  EXPECT_EQ(file_text(o.journal).find(kMoodlePw), std::string::npos);

  auto u = w.undo();
  ASSERT_TRUE(u.ok) << u.error;
  w.expect_stack_as_before("after undo");
}

// Docker's listing of the stopped web container's layer walks the image tree (seconds on real
// Moodle): in the window it runs while the DB dir is copied, not before or after it.
TEST(Adopt, TheWindowListsTheImagesLayerWhileTheDbDirIsCopied) {
  AdoptWorld w(AdoptWorld::Family::image);
  std::mutex m;
  std::condition_variable cv;
  bool copying = false, listed = false, listed_while_copying = false;
  auto rsync = w.host.commands.on_run;
  w.host.commands.on_run = [&](const std::vector<std::string>& argv) {
    // The final pass's copy of the DB dir (compared by content) waits a while for the listing.
    if (std::find(argv.begin(), argv.end(), "--checksum") != argv.end()) {
      std::unique_lock lock(m);
      copying = true;
      cv.notify_all();
      cv.wait_for(lock, std::chrono::seconds(2), [&] { return listed; });
      copying = false;
    }
    return rsync(argv);
  };
  w.host.containers.on_changes = [&] {
    std::unique_lock lock(m);
    cv.wait_for(lock, std::chrono::seconds(2), [&] { return copying; });
    listed_while_copying = copying;
    listed = true;
    cv.notify_all();
  };
  auto o = w.adopt();
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  EXPECT_TRUE(listed) << "the final pass listed the layer";
  EXPECT_TRUE(listed_while_copying);
}

// Docker's change list of a container's layer, read into what the final pass copies again and
// removes: each top-most change once, the dirs above it left alone, nothing outside the code
// dir, never config.php.
TEST(AdoptCodeDelta, CopiesEachTopMostChangeOnceAndRemovesWhatWasDeleted) {
  using K = ports::FileChange::Kind;
  struct Case {
    const char* name;
    std::vector<ports::FileChange> changes;
    std::vector<std::string> copy, remove;
  };
  std::vector<Case> cases = {
      {"no change", {}, {}, {}},
      {"a plugin installed: its dir once, not each file, not the dirs above it",
       {{"/var", K::modified}, {"/var/www", K::modified}, {"/var/www/html", K::modified}, {"/var/www/html/local", K::modified},
        {"/var/www/html/local/new", K::added}, {"/var/www/html/local/new/version.php", K::added},
        {"/var/www/html/local/new/lang/en/local_new.php", K::added}, {"/var/www/html/local/new/lang", K::added}},
       {"local/new"},
       {}},
      {"a file changed in place (a plugin updated file by file)",
       {{"/var/www/html", K::modified}, {"/var/www/html/mod", K::modified}, {"/var/www/html/mod/quiz", K::modified},
        {"/var/www/html/mod/quiz/version.php", K::modified}},
       {"mod/quiz/version.php"},
       {}},
      {"a plugin removed: its dir once",
       {{"/var/www/html", K::modified}, {"/var/www/html/local", K::modified}, {"/var/www/html/local/old", K::deleted}},
       {},
       {"local/old"}},
      {"a dir removed and made again (an update through the admin pages), as overlay2 lists it: old entries deleted, new added",
       {{"/var/www/html/mod/quiz", K::modified}, {"/var/www/html/mod/quiz/new.php", K::added}, {"/var/www/html/mod/quiz/old.php", K::deleted},
        {"/var/www/html/mod/quiz/version.php", K::added}, {"/var/www/html/mod", K::modified}},
       {"mod/quiz/new.php", "mod/quiz/version.php"},
       {"mod/quiz/old.php"}},
      {"a dir removed and made again, as a storage driver other than overlay2 lists it: deleted, with what is in it now added",
       {{"/var/www/html/mod", K::modified}, {"/var/www/html/mod/quiz", K::deleted}, {"/var/www/html/mod/quiz/version.php", K::added}},
       {"mod/quiz"},
       {}},
      {"a path listed twice, deleted and added: replaced",
       {{"/var/www/html/local/x", K::deleted}, {"/var/www/html/local/x", K::added}},
       {"local/x"},
       {}},
      {"a dir whose own mode changed, nothing listed under it: copied whole",
       {{"/var/www/html/theme", K::modified}},
       {"theme"},
       {}},
      {"never config.php, nor the code dir itself, nor paths beside it",
       {{"/var/www/html", K::modified}, {"/var/www/html/config.php", K::modified}, {"/var/www/htmlx/a.php", K::added},
        {"/var/www/html-old", K::deleted}, {"/tmp/sess_1", K::added}, {"/var/www", K::modified}},
       {},
       {}},
      {"in any order, beside a name that sorts between a dir and what is in it",
       {{"/var/www/html/local/a/b.php", K::added}, {"/var/www/html/local/a-b", K::deleted}, {"/var/www/html/local/a", K::added},
        {"/var/www/html/local", K::modified}},
       {"local/a"},
       {"local/a-b"}},
  };
  // A plugin updated through the admin pages, as overlay2 lists it: every file of its dir; the
  // dir is copied whole, one call. Not so for the code dir's own subdirs (mod/ whole is every
  // activity), nor for a dir with few changes.
  Case update{"a plugin dir with many changes: copied whole", {{"/var/www/html/mod", K::modified}, {"/var/www/html/mod/quiz", K::modified}}, {"mod/quiz"}, {}};
  Case spread{"many changes straight under mod/: each", {{"/var/www/html/mod", K::modified}}, {}, {}};
  for (int i = 0; i < 16; ++i) {
    update.changes.push_back({fmt::format("/var/www/html/mod/quiz/f{:02}.php", i), i % 2 ? K::added : K::deleted});
    spread.changes.push_back({fmt::format("/var/www/html/mod/f{:02}.php", i), K::added});
    spread.copy.push_back(fmt::format("mod/f{:02}.php", i));
  }
  update.changes.push_back({"/var/www/html/local/x/version.php", K::modified});
  update.copy.push_back("local/x/version.php");
  cases.push_back(update);
  cases.push_back(spread);
  Case few = update;
  few.name = "a plugin dir with 15 changes: each";
  few.changes.erase(few.changes.begin() + 2);
  few.copy = {"local/x/version.php"};
  for (int i = 1; i < 16; ++i) (i % 2 ? few.copy : few.remove).push_back(fmt::format("mod/quiz/f{:02}.php", i));
  std::sort(few.copy.begin(), few.copy.end());
  cases.push_back(few);
  for (const auto& c : cases) {
    for (const char* dir : {"/var/www/html", "/var/www/html/"}) {
      auto d = ops::code_delta(c.changes, dir);
      auto copy = c.copy, remove = c.remove;  // in path order
      std::sort(copy.begin(), copy.end());
      std::sort(remove.begin(), remove.end());
      EXPECT_EQ(d.copy, copy) << c.name;
      EXPECT_EQ(d.remove, remove) << c.name;
    }
  }
}

// A plugin installed, another updated and a third removed through the admin pages while adopt
// runs, after the first copy of code built into the image: the final pass (the web container
// stopped) lists the container's layer and brings exactly those paths in line, each with one
// archive call; the set's own config.php stays, though the container's was edited too.
TEST(Adopt, CodeTheContainersLayerChangedAfterTheFirstCopyIsBroughtInLineInTheWindow) {
  using Node = fakes::FakeStorage::Node;
  using C = ports::FileChange;
  AdoptWorld w(AdoptWorld::Family::image);
  auto& layer = w.host.containers.layers["bn-moodle-1"];
  // Plugins of the image itself.
  layer["/var/www/html/mod"] = {Node::Kind::dir, "", {0, 0, 0755}};
  layer["/var/www/html/mod/quiz"] = {Node::Kind::dir, "", {0, 0, 0755}};
  layer["/var/www/html/mod/quiz/version.php"] = {Node::Kind::file, "quiz 1", {0, 0, 0644}};
  layer["/var/www/html/local/gone"] = {Node::Kind::dir, "", {0, 0, 0755}};
  layer["/var/www/html/local/gone/version.php"] = {Node::Kind::file, "gone 1", {0, 0, 0644}};
  // What the admin does meanwhile, as the stack's moodledata is copied (after the code was).
  auto rsync = w.host.commands.on_run;
  bool done = false;
  w.host.commands.on_run = [&](const std::vector<std::string>& argv) {
    if (!done && argv.at(0) == "/usr/bin/rsync" && argv[argv.size() - 2] == w.moodledata + "/") {
      done = true;
      bool copied = false;
      for (const auto& [path, node] : w.host.storage.nodes) copied = copied || (path.rfind("/pool/bn/sets/", 0) == 0 && path.ends_with("/code/version.php"));
      EXPECT_TRUE(copied) << "the code was copied before";
      layer["/var/www/html/local/late"] = {Node::Kind::dir, "", {33, 33, 0755}};
      layer["/var/www/html/local/late/version.php"] = {Node::Kind::file, "late 1", {33, 33, 0644}};
      layer["/var/www/html/mod/quiz/version.php"] = {Node::Kind::file, "quiz 2", {33, 33, 0644}};
      layer.erase("/var/www/html/local/gone");
      layer.erase("/var/www/html/local/gone/version.php");
      layer["/var/www/html/config.php"].content += "// edited in the container\n";
      auto& ch = w.host.containers.changes["bn-moodle-1"];
      ch.insert(ch.end(), {{"/var/www/html/local/late", C::Kind::added},
                           {"/var/www/html/local/late/version.php", C::Kind::added},
                           {"/var/www/html/mod", C::Kind::modified},
                           {"/var/www/html/mod/quiz", C::Kind::modified},
                           {"/var/www/html/mod/quiz/version.php", C::Kind::modified},
                           {"/var/www/html/local/gone", C::Kind::deleted},
                           {"/var/www/html/config.php", C::Kind::modified}});
    }
    return rsync(argv);
  };
  auto o = w.adopt();
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  ASSERT_TRUE(done);
  auto& st = w.host.storage;
  std::string code = "/pool/bn/sets/" + o.set + "/code";
  EXPECT_EQ(st.read_file(code + "/local/late/version.php"), "late 1") << "installed after the first copy";
  EXPECT_EQ(st.file_mode(code + "/local/late/version.php")->uid, 33u);
  EXPECT_TRUE(st.is_directory(code + "/local/late"));
  EXPECT_EQ(st.read_file(code + "/mod/quiz/version.php"), "quiz 2") << "updated after the first copy";
  EXPECT_FALSE(st.exists(code + "/local/gone")) << "removed after the first copy";
  EXPECT_FALSE(st.exists(code + "/local/gone/version.php"));
  EXPECT_EQ(st.read_file(code + "/local/webplugin/version.php"), kPluginVersion);
  EXPECT_EQ(st.read_file(code + "/version.php"), kVersionPhp);
  auto php = st.read_file(code + "/config.php").value_or("");
  EXPECT_EQ(core::config_php_setting(php, "dbhost"), "db") << "the set's own config.php";
  EXPECT_EQ(php.find("edited in the container"), std::string::npos);
  // In the window, with the web stopped: the listing, then one archive call per top-most path.
  const auto& log = w.host.faults.log;
  size_t stopped = w.host.faults.find("containers.stop bn-moodle-1"), listed = w.host.faults.find("containers.changes bn-moodle-1");
  ASSERT_NE(listed, std::string::npos);
  EXPECT_LT(stopped, listed);
  std::vector<std::string> window_copies;
  for (size_t i = listed; i < log.size(); ++i)
    if (log[i].rfind("containers.copy_from bn-moodle-1:", 0) == 0) window_copies.push_back(log[i]);
  EXPECT_EQ(window_copies, (std::vector<std::string>{
                               "containers.copy_from bn-moodle-1:/var/www/html/local/late -> " + code + "/local/late",
                               // installed before adopt: copied again, a site's own plugin, not the tree
                               "containers.copy_from bn-moodle-1:/var/www/html/local/webplugin -> " + code + "/local/webplugin",
                               "containers.copy_from bn-moodle-1:/var/www/html/mod/quiz/version.php -> " + code + "/mod/quiz/version.php"}));
  EXPECT_EQ(std::count_if(log.begin(), log.end(), [](const std::string& l) { return l.rfind("containers.changes", 0) == 0; }), 1);
  auto journal = file_text(o.journal);
  EXPECT_NE(journal.find(R"("code_removed":["local/gone"])"), std::string::npos) << journal;

  auto u = w.undo();
  ASSERT_TRUE(u.ok) << u.error;
}

TEST(Adopt, AnAlpineLikeStacksRedisBecomesTheSetsCacheWithItsSessions) {
  AdoptWorld w(AdoptWorld::Family::alpine);
  auto dry = w.adopt(false);
  ASSERT_TRUE(dry.ok) << dry.error;
  EXPECT_NE(w.out.str().find("redis      " + w.redis_dir + "/moodle.rdb (Redis bn-redis-1 of redis: sessions and MUC caches"), std::string::npos)
      << w.out.str();
  EXPECT_NE(w.out.str().find("chowned to 100:102"), std::string::npos) << w.out.str();
  auto o = w.adopt();
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  auto& st = w.host.storage;
  std::string set = "/pool/bn/sets/" + o.set;
  // The dump saved with the web stopped (SAVE), in the set's cache dir, owned by the set's Redis user.
  EXPECT_EQ(st.read_file(set + "/cache/dump.rdb"), "the stack's sessions, saved #1");
  EXPECT_EQ(st.file_mode(set + "/cache/dump.rdb")->uid, 100u);
  EXPECT_EQ(st.file_mode(set + "/cache/dump.rdb")->gid, 101u);
  // Sessions and the MUC store on the set's Redis; the stack's files as they were.
  std::string php = st.read_file(set + "/code/config.php").value_or("");
  EXPECT_EQ(core::config_php_setting(php, "session_redis_host"), "cache");
  EXPECT_EQ(core::config_php_setting(php, "session_redis_auth"), "");
  EXPECT_EQ(ops::muc_redis_hosts(st.read_file(set + "/moodledata/muc/config.php").value_or("")), std::vector<std::string>{"cache"});
  EXPECT_EQ(st.read_file(w.moodledata + "/muc/config.php"), kMucConfig);
  // The DB data dir's copy belongs to the set's DB user (Alpine's postgres is uid 70, Debian's 100).
  EXPECT_EQ(st.file_mode(set + "/db/PG_VERSION")->uid, 100u);
  EXPECT_EQ(st.file_mode(set + "/db/PG_VERSION")->gid, 102u);
  EXPECT_EQ(st.file_mode(w.dbdir + "/PG_VERSION")->uid, 70u);
  auto cfg = config::parse_site_config(st.read_file("/etc/mupgrade/bn.yml").value_or(""), "bn.yml");
  EXPECT_EQ(cfg.cache.kind, "redis");
  EXPECT_EQ(cfg.cache.image, core::kDefaultRedisImage);
  EXPECT_EQ(cfg.db.image, "mupgrade/postgres:15");
  EXPECT_TRUE(w.host.containers.inspect_container("mupgrade-bn-" + o.set + "-cache")->running);
  EXPECT_FALSE(w.host.containers.inspect_container("bn-redis-1")->running);
  EXPECT_FALSE(w.host.containers.inspect_container("mupgrade-bn-adopt-probe")) << "the probe is removed";
  EXPECT_EQ(file_text(o.journal).find("muc-secret"), std::string::npos);

  auto u = w.undo();
  ASSERT_TRUE(u.ok) << u.error;
  w.expect_stack_as_before("after undo");
}

// A Redis with a password: config.php's session_redis_auth, or, for a Redis kept for caches
// only, the MUC store's password in muc/config.php; the one the Redis takes asks it to save.
TEST(Adopt, TheStacksRedisIsAskedWithThePasswordItTakes) {
  struct Case {
    std::string name, session_auth, requirepass;
    bool muc_only;
  };
  for (const Case& c : std::vector<Case>{{"only the MUC store has it", "", "muc-secret", true},
                                         {"sessions and MUC, config.php has none", "", "muc-secret", false},
                                         {"config.php's is stale, the MUC store's is right", "old-secret", "muc-secret", false},
                                         {"config.php's is right, the MUC store's is stale", "sess-secret", "sess-secret", false}}) {
    AdoptWorld w(AdoptWorld::Family::alpine);
    std::string extra = c.muc_only ? "" : std::string(kRedisSessions);
    if (!c.session_auth.empty()) extra += "$CFG->session_redis_auth = '" + c.session_auth + "';\n";
    w.host.storage.write_file(w.code + "/config.php", config_php("pgsql", "postgres", "/var/lib/moodledata", extra), {82, 82, 0640});
    w.host.containers.redis_password["bn-redis-1"] = c.requirepass;
    auto o = w.adopt();
    ASSERT_TRUE(o.ok) << c.name << ": " << o.failed_step << ": " << o.error;
    std::string set = "/pool/bn/sets/" + o.set;
    EXPECT_EQ(w.host.storage.read_file(set + "/cache/dump.rdb"), "the stack's sessions, saved #1") << c.name << ": SAVE took the password";
    for (const auto& secret : {"muc-secret", "sess-secret", "old-secret"}) {
      EXPECT_EQ(file_text(o.journal).find(secret), std::string::npos) << c.name;
      EXPECT_EQ(w.out.str().find(secret), std::string::npos) << c.name;
      for (const auto& l : w.host.faults.log) EXPECT_EQ(l.find(secret), std::string::npos) << c.name << ": " << l;
      EXPECT_EQ(w.host.storage.read_file("/etc/mupgrade/bn.yml").value_or("").find(secret), std::string::npos) << c.name;
      EXPECT_EQ(w.host.storage.read_file(set + "/moodledata/muc/config.php").value_or("").find(secret), std::string::npos) << c.name;
    }
    auto u = w.undo();
    ASSERT_TRUE(u.ok) << c.name << ": " << u.error;
  }
  // A password neither holds: refused before anything changes.
  AdoptWorld w(AdoptWorld::Family::alpine);
  w.host.containers.redis_password["bn-redis-1"] = "another";
  w.before_nodes = w.host.storage.paths_under("/");
  try {
    w.adopt();
    ADD_FAILURE() << "not refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("redis-cli CONFIG GET dir: AUTH failed: WRONGPASS"), std::string::npos) << e.what();
  }
  w.expect_nothing_changed("a wrong password");
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
    // Bitnami's MariaDB files (uid 1001) belong to the set's image's mysql (100); the moodlehq
    // stack keeps its own DB image, so its owners.
    EXPECT_EQ(st.file_mode(set + (fam == AdoptWorld::Family::bitnami ? "/db/mysql/db.opt" : "/db/PG_VERSION"))->uid,
              fam == AdoptWorld::Family::bitnami ? 100u : 999u);
    EXPECT_EQ(st.file_mode(w.dbdir)->uid, fam == AdoptWorld::Family::bitnami ? 1001u : 999u);
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
  for (auto fam : {AdoptWorld::Family::bitnami, AdoptWorld::Family::alpine, AdoptWorld::Family::image}) {
  size_t calls = 0;
  {
    AdoptWorld w(fam);
    ASSERT_TRUE(w.adopt().ok);
    calls = w.host.faults.log.size();
    // Code in the image: the final pass's listing and re-copy are among the calls that fail.
    if (fam == AdoptWorld::Family::image) {
      EXPECT_TRUE(w.host.faults.seen("containers.changes bn-moodle-1"));
      EXPECT_TRUE(w.host.faults.seen("containers.copy_from bn-moodle-1:/var/www/html/local/webplugin -> "));
    }
  }
  ASSERT_GT(calls, 20u);
  for (size_t i = 0; i < calls; ++i) {
    AdoptWorld w(fam);
    w.host.faults.at_call(i, FaultPlan::Kind::fail);
    std::string ctx = fmt::format("failure at call {}", i);
    std::string fired;
    try {
      auto o = w.adopt();
      if (o.ok) {
        // The two calls adopt survives: the superuser probe, after which it uses Moodle's DB
        // user, and du sizing code in the image, after which it sizes Docker's archive of it.
        if (w.host.faults.fired.rfind("exec bn-moodle-1: du ", 0) == 0) {
          EXPECT_NE(w.host.faults.find("containers.copy_from bn-moodle-1:/var/www/html"), std::string::npos) << ctx;
        } else {
          EXPECT_EQ(w.host.faults.fired.rfind("db.server_version", 0), 0u) << ctx << ": " << w.host.faults.fired;
          EXPECT_NE(w.out.str().find("connects as Moodle's DB user"), std::string::npos) << ctx;
        }
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
}

TEST(Adopt, AKillAtEveryCallLeavesTheStackRecoverableByUndoOrByAdoptAgain) {
  for (auto fam : {AdoptWorld::Family::bitnami, AdoptWorld::Family::alpine, AdoptWorld::Family::image}) {
  size_t calls = 0;
  {
    AdoptWorld w(fam);
    ASSERT_TRUE(w.adopt().ok);
    calls = w.host.faults.log.size();
    // Code in the image: the final pass's listing and re-copy are among the calls killed at.
    if (fam == AdoptWorld::Family::image) {
      EXPECT_TRUE(w.host.faults.seen("containers.changes bn-moodle-1"));
      EXPECT_TRUE(w.host.faults.seen("containers.copy_from bn-moodle-1:/var/www/html/local/webplugin -> "));
    }
  }
  for (size_t i = 0; i < calls; ++i) {
    for (bool again : {false, true}) {
      AdoptWorld w(fam);
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

// `status` of a site whose adoption was killed: before it wrote the site config (no config to
// read) it finds the adoption in the state dir; after, in the site's status beside the last
// operation. Either way it names the commands that recover it, exactly; each named command
// then brings the stack back (or adopts it anew).
TEST(AdoptStatus, NamesTheRecoveryOfAnAdoptionKilledAtEveryCall) {
  size_t calls = 0;
  {
    AdoptWorld w(AdoptWorld::Family::bitnami);
    ASSERT_TRUE(w.adopt().ok);
    calls = w.host.faults.log.size();
  }
  size_t named = 0, configured = 0;
  for (size_t i = 0; i < calls; ++i) {
    AdoptWorld w(AdoptWorld::Family::bitnami);
    w.host.faults.at_call(i, FaultPlan::Kind::crash);
    EXPECT_THROW(w.adopt(), Crash);
    std::string ctx = fmt::format("kill at call {} ({})", i, w.host.faults.fired);
    w.host.faults.clear();
    auto r = ops::unconfigured_status(w.state_dir, "bn");
    if (!fs::exists(w.state_dir + "/journal/adopt")) {
      EXPECT_FALSE(r) << ctx << ": nothing was made, nothing to recover";
      continue;
    }
    if (auto yaml = w.host.storage.read_file("/etc/mupgrade/bn.yml")) {
      // Killed in the last step: the site has its config (and so `status` takes that path).
      ops::Site site(config::parse_site_config(*yaml, "bn.yml"), w.host.ports());
      r = ops::status(site);
      ++configured;
    } else {
      ASSERT_TRUE(r) << ctx;
      EXPECT_FALSE(r->configured);
      EXPECT_EQ(r->site, "bn");
      EXPECT_EQ(r->config_file, "/etc/mupgrade/bn.yml");
      EXPECT_EQ(r->public_url, "http://moodle.test:18090");
    }
    ++named;
    ASSERT_TRUE(r->adoption) << ctx;
    EXPECT_EQ(r->adoption->outcome, "interrupted") << ctx;
    EXPECT_FALSE(r->adoption->interrupted_step.empty() && r->adoption->interrupted_after.empty()) << ctx;
    std::string undo = "mupgrade adopt --undo --site bn --state-dir " + w.state_dir;
    std::string again = "mupgrade adopt --from bn --site bn --pool /pool/bn --state-dir " + w.state_dir + " --config /etc/mupgrade/bn.yml --yes";
    ASSERT_EQ(r->adoption->recovery, (std::vector<std::string>{undo, again})) << ctx;
    EXPECT_NE(r->to_json().dump().find(again), std::string::npos) << ctx;
    // Run what it named (each in turn): the stack back, or adopted anew and then undone.
    if (i % 2 == 0) {
      ASSERT_TRUE(w.undo().ok) << ctx << ": " << w.out.str();
    } else {
      auto o = w.adopt();
      ASSERT_TRUE(o.ok) << ctx << ": " << o.failed_step << " " << o.error;
      EXPECT_FALSE(ops::unfinished_adoption(w.state_dir)) << ctx << ": adopted, nothing to recover";
      ASSERT_TRUE(w.undo().ok) << ctx;
    }
    w.expect_stack_as_before(ctx);
    EXPECT_FALSE(ops::unconfigured_status(w.state_dir, "bn")) << ctx;
  }
  EXPECT_GT(named - configured, calls / 2) << "most kill points lie after the journal opened, before the config";
  EXPECT_GT(configured, 0u) << "a kill point in the last step, after the config";
}

// Killed between taking the site lock and opening its journal: nothing was made, and the lock
// file still names the command, which status gives back to run again. While an adoption runs,
// status says so and names no recovery.
TEST(AdoptStatus, NamesTheCommandAKillBeforeTheJournalLeftInTheLockAndNothingWhileItRuns) {
  AdoptWorld w(AdoptWorld::Family::bitnami);
  std::string command = ops::adopt_command(w.req);
  EXPECT_EQ(command, "mupgrade adopt --from bn --site bn --pool /pool/bn --state-dir " + w.state_dir + " --config /etc/mupgrade/bn.yml --yes");
  // While it runs: the lock holds that very command; status says running, no recovery.
  struct Watch : Quiet {
    std::string state_dir;
    std::vector<std::string> seen;
    void step_started(const core::Step& s, size_t, size_t) override {
      auto u = ops::unfinished_adoption(state_dir);
      auto lock = core::SiteLock::probe(state_dir + "/lock");
      seen.push_back(fmt::format("{}: {} {} {}", s.name, u ? u->outcome : "none", u ? u->recovery.size() : 99, lock ? lock->command : "free"));
    }
  } watch;
  watch.state_dir = w.state_dir;
  auto o = ops::adopt_from(w.host.ports(), w.req, watch, w.out);
  ASSERT_TRUE(o.ok) << o.error;
  ASSERT_FALSE(watch.seen.empty());
  for (const auto& s : watch.seen) EXPECT_NE(s.find(": running 0 " + command), std::string::npos) << s;
  ASSERT_TRUE(w.undo().ok);

  fs::create_directories(w.state_dir);
  pid_t child = ::fork();
  if (child == 0) {
    core::SiteLock l(w.state_dir + "/lock", "bn", command);
    ::pause();
    ::_exit(0);
  }
  for (int i = 0; i < 200 && !core::SiteLock::probe(w.state_dir + "/lock"); ++i) ::usleep(10000);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  auto r = ops::unconfigured_status(w.state_dir, "bn");
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->adoption);
  EXPECT_EQ(r->adoption->recovery, std::vector<std::string>{command});
  EXPECT_TRUE(r->adoption->steps.empty());
  EXPECT_FALSE(r->lock) << "the killed holder holds nothing";
  // The named command starts over: it clears the state dir the kill left.
  auto again = w.adopt();
  ASSERT_TRUE(again.ok) << again.error;
  ASSERT_TRUE(w.undo().ok);
  w.expect_stack_as_before("after the kill before the journal");
}

// Killed in its last step, after the site config was written and before the site is live:
// `status` with the config shows the adoption beside the last operation, with its recovery.
TEST(AdoptStatus, AnAdoptionKilledAfterItsConfigShowsInTheSitesStatus) {
  AdoptWorld w(AdoptWorld::Family::bitnami);
  auto o = w.adopt();
  ASSERT_TRUE(o.ok) << o.error;
  // The journal as a kill inside register-live-set leaves it: that step begun, nothing after;
  // the site not live yet.
  std::string text = file_text(o.journal), cut;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    cut += line + "\n";
    if (line.find("\"event\":\"begin\"") != std::string::npos && line.find("\"step\":\"register-live-set\"") != std::string::npos) break;
  }
  ASSERT_NE(cut, text);
  std::ofstream(o.journal, std::ios::trunc) << cut;
  fs::remove(w.state_dir + "/site.json");
  auto yaml = w.host.storage.read_file("/etc/mupgrade/bn.yml");
  ASSERT_TRUE(yaml);
  ops::Site site(config::parse_site_config(*yaml, "bn.yml"), w.host.ports());
  auto r = ops::status(site);
  EXPECT_TRUE(r.configured);
  ASSERT_TRUE(r.adoption);
  EXPECT_EQ(r.adoption->interrupted_step, "register-live-set");
  ASSERT_EQ(r.adoption->recovery.size(), 2u);
  EXPECT_EQ(r.adoption->recovery[0], "mupgrade adopt --undo --site bn --state-dir " + w.state_dir);
  EXPECT_EQ(r.to_json()["adoption"]["recovery"][0], r.adoption->recovery[0]);
  ASSERT_TRUE(w.undo().ok) << w.out.str();
  w.expect_stack_as_before("after the undo status named");
}
