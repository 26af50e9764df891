// `mupgrade adopt --from` through the binary on real Docker, btrfs, MariaDB, PostgreSQL, PHP and
// HAProxy: stacks made here with Compose labels (no compose binary), laid out like the families
// adopt knows, with the stand-in Moodle installed:
//  - Bitnami-like: code, moodledata and the DB in named volumes under /bitnami/..., Apache and
//    PHP as uid 1001, MariaDB keeping its data at /bitnami/mariadb/data;
//  - moodlehq-like: code bind-mounted at /var/www/html, moodledata bind-mounted, www-data,
//    PostgreSQL with its data dir bind-mounted;
//  - Alpine-like: code bind-mounted at /srv/moodle, moodledata in a named volume at
//    /var/lib/moodledata, Apache as uid 82 (Alpine's www-data), PostgreSQL as uid 70 (Alpine's
//    postgres) with PGDATA a subdir of its volume, and a Redis (uid 999, dump moodle.rdb in a bind
//    mount at /var/lib/redis, no save points) holding the sessions and a MUC store: a user
//    logged in on the stack is still logged in on the adopted set, and again after the undo.
// Each is adopted (dry run, then --yes), a cutover and a rollback run on it, then `adopt
// --undo` brings the original stack back, serving with its data.

#include "fixtures.hpp"
#include "site_fixture.hpp"

#include "mupgrade/core/site_state.hpp"
#include "mupgrade/http/http_client.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
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

struct Family {
  const char* name;
  bool bitnami;  // else moodlehq-like or Alpine-like on PostgreSQL
  int port;
  bool alpine = false;
  bool image_code = false;  // moodlehq-like, its code built into its web image (no mount holds it)
};

/// Named volumes and images this test made (removed at the end, own names only).
struct Volumes {
  std::vector<std::string> names, images;
  ~Volumes() {
    for (const auto& n : names)
      if (is_own_test_name(n)) sh("docker volume rm -f '" + n + "' >/dev/null 2>&1");
    for (const auto& i : images)
      if (is_own_test_name(i.substr(0, i.find(':')))) sh("docker rmi -f '" + i + "' >/dev/null 2>&1");
  }
  std::string make(const std::string& prefix) {
    std::string n = unique_name(prefix);
    names.push_back(n);
    std::string out;
    EXPECT_EQ(sh("docker volume create --label mupgrade.test=1 '" + n + "' >/dev/null && docker volume inspect -f '{{.Mountpoint}}' '" + n + "'", &out), 0) << out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
};

struct Stack {
  std::string project, web, db, redis, moodledata_host;
  std::string host;  // public Host header
};

// The Alpine-like stack's Redis: mupgrade's image as uid 999, its dump elsewhere, no save points
// (only the SAVE adopt asks for writes the dump).
docker::ContainerSpec alpine_redis(const std::string& project, const std::string& net, const std::string& dir) {
  docker::ContainerSpec r;
  r.name = unique_name("redis");
  r.image = core::kDefaultRedisImage;
  r.labels = {{"mupgrade.test", "1"}, {"com.docker.compose.project", project}, {"com.docker.compose.service", "redis"}};
  r.network = net;
  r.network_aliases = {"redis"};
  r.mounts = {{dir, "/var/lib/redis", false}};
  r.entrypoint = {"/bin/bash", "-c",
                  "usermod -u 999 redis && groupmod -g 999 redis && chown -R redis:redis /var/lib/redis && exec setpriv --reuid=redis "
                  "--regid=redis --init-groups redis-server --bind 0.0.0.0 --port 6379 --protected-mode no --daemonize no --logfile '' "
                  "--dir /var/lib/redis --dbfilename moodle.rdb --appendonly no --save ''"};
  r.stop_timeout_s = 10;
  return r;
}

// Sessions and a MUC store in the stack's Redis, as config-dist.php and the admin UI write them.
const char* kAlpineRedisConfig =
    "$CFG->session_handler_class = '\\core\\session\\redis';\n$CFG->session_redis_host = 'redis';\n"
    "$CFG->session_redis_port = 6379;\n$CFG->session_redis_prefix = 'sess_';\n";
const char* kAlpineMuc =
    "<?php defined('MOODLE_INTERNAL') || die();\n $configuration = array('stores' => array('redis1' => array('name' => 'redis1', "
    "'plugin' => 'redis', 'configuration' => array('server' => 'redis:6379', 'prefix' => 'muc_'), 'class' => 'cachestore_redis')));\n";

// A logged-in session's cookie value, from the stand-in's login.
std::string login(int port, const std::string& host) {
  std::string out;
  EXPECT_EQ(sh(fmt::format("curl -s -D - -o /dev/null -H 'Host: {}' --data username=admin http://127.0.0.1:{}/login/index.php", host, port), &out), 0);
  std::smatch m;
  if (!std::regex_search(out, m, std::regex("MoodleSession=([0-9a-f]{32})"))) ADD_FAILURE() << "no session cookie in:\n" << out;
  return m.size() > 1 ? m[1].str() : "";
}

// "user: admin" or "user: guest", as the stand-in sees the cookie.
std::string whoami(int port, const std::string& host, const std::string& sid) {
  std::string out;
  sh(fmt::format("curl -s -H 'Host: {}' -H 'Cookie: MoodleSession={}' http://127.0.0.1:{}/local/standin/whoami.php", host, sid, port), &out);
  std::smatch user;
  return std::regex_search(out, user, std::regex("user: [a-z]+")) ? user[0].str() : "no answer: " + out.substr(0, 200);
}

std::string write_secret(const std::string& dir, const std::string& name, const std::string& value) {
  std::string p = dir + "/" + name;
  std::ofstream(p) << value;
  ::chmod(p.c_str(), 0644);  // read by the DB image's own user
  return p;
}

ports::HttpResponse login_page(int port, const std::string& host) {
  return http::get(fmt::format("http://127.0.0.1:{}/login/index.php", port), host, std::chrono::seconds(10));
}

bool wait_200(int port, const std::string& host) {
  for (int i = 0; i < 300; ++i) {
    if (login_page(port, host).status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

Stack make_stack(Cleanup& cleanup, Volumes& volumes, const Family& fam, const std::string& data_dir) {
  Stack s;
  s.project = unique_name("proj");
  s.host = fmt::format("moodle.test:{}", fam.port);
  std::string net = unique_name("net");
  cleanup.network(engine().create_network(net, {{"mupgrade.test", "1"}, {"com.docker.compose.project", s.project}}));
  std::string secrets = data_dir + "/secrets";
  fs::create_directories(secrets);
  write_secret(secrets, "root", "Root-pw-1");
  write_secret(secrets, "user", "Moodle-pw-1");
  std::string code, dataroot, code_in, dbhost = fam.bitnami ? "mariadb" : "postgres";
  docker::ContainerSpec db;
  db.name = s.db = unique_name("db");
  db.labels = {{"mupgrade.test", "1"}, {"com.docker.compose.project", s.project}, {"com.docker.compose.service", dbhost}};
  db.network = net;
  db.network_aliases = {dbhost};
  if (fam.bitnami) {
    code = volumes.make("code");
    s.moodledata_host = volumes.make("data");
    std::string dbvol = volumes.make("mariadb");
    (void)dbvol;
    code_in = "/bitnami/moodle";
    dataroot = "/bitnami/moodledata";
    db.image = "mupgrade/mariadb:10.11";
    db.mounts = {{volumes.names.back(), "/bitnami/mariadb", false}, {secrets, "/run/secrets", true}};
    // Bitnami's layout: the data dir under the volume's data/.
    db.entrypoint = {"/bin/bash", "-c",
                     "mkdir -p /bitnami/mariadb/data && chown mysql:mysql /bitnami/mariadb/data && "
                     "sed 's#^datadir=/var/lib/mysql#datadir=/bitnami/mariadb/data#' /usr/local/bin/mariadb-entrypoint >/tmp/ep && exec bash /tmp/ep"};
    db.env = {{"MARIADB_ROOT_PASSWORD_FILE", "/run/secrets/root"}, {"MARIADB_DATABASE", "bitnami_moodle"}, {"MARIADB_USER", "bn_moodle"},
              {"MARIADB_PASSWORD_FILE", "/run/secrets/user"}};
  } else if (fam.alpine) {
    code = data_dir + "/moodle-code";
    s.moodledata_host = volumes.make("moodledata");
    std::string pgvol = volumes.make("pg");
    (void)pgvol;
    code_in = "/srv/moodle";
    dataroot = "/var/lib/moodledata";
    db.image = "mupgrade/postgres:15";
    // Alpine's postgres is uid 70, its PGDATA a subdir of the volume.
    db.mounts = {{volumes.names.back(), "/var/lib/postgresql/data", false}, {secrets, "/run/secrets", true}};
    db.entrypoint = {"/bin/bash", "-c",
                     "usermod -u 70 postgres && groupmod -g 70 postgres && chown -R postgres:postgres /var/run/postgresql /var/lib/postgresql && "
                     "exec /usr/local/bin/postgres-entrypoint"};
    db.env = {{"POSTGRES_PASSWORD_FILE", "/run/secrets/root"}, {"PGDATA", "/var/lib/postgresql/data/pgdata"}};
    fs::create_directories(data_dir + "/redis");
    auto redis = alpine_redis(s.project, net, data_dir + "/redis");
    s.redis = redis.name;
    cleanup.container(engine().create_container(redis));
    engine().start_container(redis.name);
  } else {
    code = data_dir + (fam.image_code ? "/image/code" : "/html");
    s.moodledata_host = data_dir + "/moodledata";
    fs::create_directories(s.moodledata_host);
    fs::create_directories(data_dir + "/pgdata");
    code_in = "/var/www/html";
    dataroot = "/var/www/moodledata";
    db.image = "mupgrade/postgres:15";
    db.mounts = {{data_dir + "/pgdata", "/var/lib/postgresql/data", false}, {secrets, "/run/secrets", true}};
    // Moodle's own role and DB are made below (the image's POSTGRES_USER path fails on psql's -c).
    db.env = {{"POSTGRES_PASSWORD_FILE", "/run/secrets/root"}};
  }
  unsigned uid = fam.bitnami ? 1001 : fam.alpine ? 82 : 33;
  make_release("4.4.1", code);
  ::chown(s.moodledata_host.c_str(), uid, uid);
  std::ofstream(code + "/config.php") << fmt::format(
      "<?php  // Moodle configuration file\nunset($CFG);\nglobal $CFG;\n$CFG = new stdClass();\n$CFG->dbtype = '{}';\n"
      "$CFG->dblibrary = 'native';\n$CFG->dbhost = '{}';\n$CFG->dbname = '{}';\n$CFG->dbuser = '{}';\n$CFG->dbpass = 'Moodle-pw-1';\n"
      "$CFG->prefix = 'mdl_';\n$CFG->dboptions = array('dbpersist' => 0, 'dbport' => '');\n$CFG->wwwroot = 'http://{}';\n"
      "$CFG->dataroot = '{}';\n$CFG->admin = 'admin';\n$CFG->directorypermissions = 02777;\n{}require_once(__DIR__ . '/lib/setup.php');\n",
      fam.bitnami ? "mariadb" : "pgsql", dbhost, fam.bitnami ? "bitnami_moodle" : "moodle", fam.bitnami ? "bn_moodle" : "moodleuser", s.host,
      dataroot, fam.alpine ? kAlpineRedisConfig : "");
  if (fam.alpine) {
    fs::create_directories(s.moodledata_host + "/muc");
    std::ofstream(s.moodledata_host + "/muc/config.php") << kAlpineMuc;
    ::chown((s.moodledata_host + "/muc").c_str(), uid, uid);
    ::chown((s.moodledata_host + "/muc/config.php").c_str(), uid, uid);
  }
  std::string web_image = "mupgrade/web:php8.2";
  if (fam.image_code) {
    // The stand-in's code and config.php built into an image of the stand-in's web image.
    web_image = unique_name("webimg") + ":4.4.1";
    volumes.images.push_back(web_image);
    std::ofstream(data_dir + "/image/Dockerfile") << "FROM mupgrade/web:php8.2\nCOPY code/ /var/www/html/\n";
    std::string out;
    EXPECT_EQ(sh("docker build -q -t '" + web_image + "' '" + data_dir + "/image'", &out), 0) << out;
  }
  cleanup.container(engine().create_container(db));
  engine().start_container(db.name);
  if (!fam.bitnami) {
    docker::ExecOptions role;
    role.cmd = {"psql", "-v", "ON_ERROR_STOP=1", "-c", "CREATE ROLE moodleuser LOGIN PASSWORD 'Moodle-pw-1'", "-c",
                "CREATE DATABASE moodle OWNER moodleuser"};
    role.user = "postgres";
    role.timeout = std::chrono::seconds(20);
    docker::ExecResult rr;
    for (int i = 0; i < 60; ++i) {
      rr = engine().exec(db.name, role);
      if (rr.exit_code == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    EXPECT_EQ(rr.exit_code, 0) << rr.out << rr.err;
  }

  docker::ContainerSpec web;
  web.name = s.web = unique_name("web");
  web.image = web_image;
  web.labels = {{"mupgrade.test", "1"}, {"com.docker.compose.project", s.project}, {"com.docker.compose.service", "moodle"}};
  web.network = net;
  web.network_aliases = {"moodle"};
  web.env = {{"MOODLE_CODE", code_in}, {"MOODLE_WEBROOT", code_in}, {"MOODLE_HTTP_PORT", std::to_string(fam.port)}};
  web.ports = {{fam.port, fam.port, "127.0.0.1"}};
  web.stop_timeout_s = 10;
  if (fam.bitnami || fam.alpine) {
    web.mounts = {{fam.bitnami ? volumes.names[0] : code, code_in, false}, {fam.bitnami ? volumes.names[1] : volumes.names[0], dataroot, false}};
    web.cmd = {"/bin/sh", "-c",
               fmt::format("export APACHE_RUN_USER='#{0}' APACHE_RUN_GROUP='#{0}'; rm -f \"$APACHE_PID_FILE\"; exec apache2 -DFOREGROUND", uid)};
  } else if (fam.image_code) {
    web.mounts = {{s.moodledata_host, dataroot, false}};
  } else {
    web.mounts = {{code, code_in, false}, {s.moodledata_host, dataroot, false}};
  }
  cleanup.container(engine().create_container(web));
  engine().start_container(web.name);
  // The DB takes a few seconds to initialise: the install retries until it connects.
  docker::ExecOptions install;
  install.cmd = {"php", "admin/cli/install_database.php", "--agree-license", "--adminpass=Admin-1234"};
  install.user = std::to_string(uid);
  install.workdir = code_in;
  install.timeout = std::chrono::seconds(60);
  docker::ExecResult r;
  for (int i = 0; i < 60; ++i) {
    r = engine().exec(web.name, install);
    if (r.exit_code == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // A user's file in moodledata: it must come through adopt and undo.
  std::ofstream(s.moodledata_host + "/users-file.txt") << "kept";
  ::chown((s.moodledata_host + "/users-file.txt").c_str(), uid, uid);
  EXPECT_TRUE(wait_200(fam.port, s.host)) << "the stack does not serve";
  return s;
}

class AdoptITest : public ::testing::TestWithParam<Family> {};

TEST_P(AdoptITest, AdoptCutoverRollbackThenUndoRestoresTheStack) {
  const auto& fam = GetParam();
  Volumes volumes;  // destroyed last: a volume goes once the containers using it are gone
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
  std::string sid = fam.alpine ? login(fam.port, stack.host) : "";
  if (fam.alpine) {
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
  if (fam.alpine) {
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
  if (fam.alpine) {
    EXPECT_TRUE(engine().inspect_container(stack.redis)->running);
    EXPECT_EQ(whoami(fam.port, stack.host, sid), "user: admin") << "the stack's Redis is back with its sessions";
    EXPECT_EQ(read_file(stack.moodledata_host + "/muc/config.php"), kAlpineMuc) << "the stack's MUC config untouched";
  }
  EXPECT_FALSE(fs::exists(site_cleanup.pool + "/sets"));
  EXPECT_FALSE(fs::exists(config));
  EXPECT_TRUE(engine().list_containers({{"mupgrade.site", site}}, true).empty());
}

INSTANTIATE_TEST_SUITE_P(Families, AdoptITest,
                         ::testing::Values(Family{"bitnami_mariadb_volumes", true, 18720}, Family{"moodlehq_postgres_binds", false, 18721},
                                           Family{"alpine_postgres_redis", false, 18822, true}),
                         [](const auto& p) { return std::string(p.param.name); });

// Code built into the stack's web image (the stand-in COPY'd into an image of the stand-in's web
// image), plus a plugin an admin installed through the web UI, which lives in the running
// container's own layer: adopt finds the code in the container, copies it out (the plugin
// too) into the set, which serves through the proxy; a cutover and a rollback run on it; `adopt
// --undo` brings the stack back with its layer as it was.
const char* kWebPlugin = "<?php\n$plugin->component = 'local_webplugin';\n$plugin->version = 2024100100;\n$plugin->requires = 2024042200;\n";

TEST(AdoptITestImageCode, CodeBuiltIntoTheWebImageIsAdoptedFromTheRunningContainerThenUndone) {
  Family fam{"moodlehq_image_code", false, 18920, false, true};
  Volumes volumes;  // destroyed last: the image and volumes go once the containers are gone
  Cleanup cleanup;
  SiteCleanup site_cleanup;
  std::string site = unique_name("adoptimg");
  site_cleanup.site = site;
  site_cleanup.pool = test_pool() + "/" + site;
  site_cleanup.state = scratch_dir() + "/" + site;
  std::string data = make_subvolume(cleanup, "stack");
  std::string config = site_cleanup.state + "-site.yml";
  struct FilesCleanup {
    std::string f;
    ~FilesCleanup() { std::remove(f.c_str()); }
  } files{config};
  auto stack = make_stack(cleanup, volumes, fam, data);
  ASSERT_TRUE(engine().inspect_container(stack.web)->mounts.size() == 1) << "only moodledata is mounted";
  // The plugin's code written into the container, then installed in the DB, as the admin pages do.
  docker::ExecOptions plugin;
  plugin.cmd = {"sh", "-c", "mkdir -p /var/www/html/local/webplugin && printf '%s' \"$PLUGIN\" > /var/www/html/local/webplugin/version.php && "
                            "chown -R 33:33 /var/www/html/local/webplugin"};
  plugin.env = {std::string("PLUGIN=") + kWebPlugin};
  ASSERT_EQ(engine().exec(stack.web, plugin).exit_code, 0);
  docker::ExecOptions install;
  install.cmd = {"php", "admin/cli/upgrade.php", "--non-interactive"};
  install.user = "33";
  install.workdir = "/var/www/html";
  install.timeout = std::chrono::seconds(60);
  auto installed = engine().exec(stack.web, install);
  ASSERT_EQ(installed.exit_code, 0) << installed.out << installed.err;
  ASSERT_EQ(login_page(fam.port, stack.host).status, 200) << "the stack serves with its plugin installed";

  std::string out, common = fmt::format("--site {} --pool {} --state-dir {} --config {}", site, site_cleanup.pool, site_cleanup.state, config);
  ASSERT_EQ(run_binary(fmt::format("adopt --from {} {} 2>&1", stack.project, common), &out), 0) << out;
  EXPECT_NE(out.find("code       from the image of container " + stack.web + " at /var/www/html ("), std::string::npos) << out;
  EXPECT_NE(out.find("install or update no plugin until adopt has finished"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(site_cleanup.pool));

  auto t0 = std::chrono::steady_clock::now();
  int rc = run_binary(fmt::format("adopt --from {} {} --yes 2>&1", stack.project, common), &out);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(rc, 0) << out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("downtime ([0-9.]+) s"))) << out;
  std::printf("adopt --yes (%s): %.1f s, downtime %s s\n%s", fam.name, secs, m[1].str().c_str(), out.c_str());
  auto state = core::load_site_state(site_cleanup.state);
  ASSERT_TRUE(state);
  std::string set_code = site_cleanup.pool + "/sets/" + state->live_set + "/code";
  auto r = login_page(fam.port, stack.host);
  EXPECT_EQ(r.status, 200) << r.transport_error;
  EXPECT_EQ(r.headers["x-mupgrade-set"], state->live_set);
  EXPECT_NE(r.body.find("4.4.1"), std::string::npos) << r.body.substr(0, 300);
  EXPECT_TRUE(fs::exists(set_code + "/version.php"));
  EXPECT_EQ(read_file(set_code + "/local/webplugin/version.php"), kWebPlugin) << "the container's layer came along";
  struct stat st{};
  EXPECT_EQ(::stat((set_code + "/local/webplugin/version.php").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 33u);
  EXPECT_NE(read_file(set_code + "/config.php").find("$CFG->dbhost = 'db';"), std::string::npos);
  EXPECT_FALSE(engine().inspect_container(stack.web)->running);

  // Upgraded and rolled back like any adopted site (the next release with the site's plugin).
  std::string release = data + "/releases/4.4.3";
  make_release("4.4.3", release);
  fs::create_directories(release + "/local/webplugin");
  std::ofstream(release + "/local/webplugin/version.php") << kWebPlugin;
  ASSERT_EQ(run_binary(fmt::format("cutover --config {} --target {} 2>&1", config, release), &out), 0) << out;
  EXPECT_NE(core::load_site_state(site_cleanup.state)->live_set, state->live_set);
  ASSERT_EQ(run_binary(fmt::format("rollback --config {} 2>&1", config), &out), 0) << out;
  EXPECT_EQ(core::load_site_state(site_cleanup.state)->live_set, state->live_set);

  ASSERT_EQ(run_binary(fmt::format("adopt --undo --site {} --config {} 2>&1", site, config), &out), 0) << out;
  EXPECT_TRUE(engine().inspect_container(stack.web)->running);
  r = login_page(fam.port, stack.host);
  EXPECT_EQ(r.status, 200) << r.transport_error;
  EXPECT_NE(r.headers["x-mupgrade-set"], state->live_set) << "the stack's own web, not the set";
  EXPECT_NE(r.body.find("4.4.1"), std::string::npos);
  EXPECT_EQ(engine().read_container_file(stack.web, "/var/www/html/local/webplugin/version.php"), kWebPlugin);
  EXPECT_EQ(engine().read_container_file(stack.web, "/var/www/html/config.php").value_or("").find("'db'"), std::string::npos);
  EXPECT_FALSE(fs::exists(stack.moodledata_host + "/climaintenance.html"));
  EXPECT_FALSE(fs::exists(site_cleanup.pool + "/sets"));
  EXPECT_TRUE(engine().list_containers({{"mupgrade.site", site}}, true).empty());
}

}  // namespace
