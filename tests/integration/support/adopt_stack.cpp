#include "adopt_stack.hpp"

#include "mupgrade/core/site_config.hpp"
#include "mupgrade/http/http_client.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

namespace mupgrade::itest {

namespace fs = std::filesystem;

StackVolumes::~StackVolumes() {
  for (const auto& n : names)
    if (is_own_test_name(n)) sh("docker volume rm -f '" + n + "' >/dev/null 2>&1");
  for (const auto& i : images)
    if (is_own_test_name(i.substr(0, i.find(':')))) sh("docker rmi -f '" + i + "' >/dev/null 2>&1");
}

std::string StackVolumes::make(const std::string& prefix) {
  std::string n = unique_name(prefix);
  names.push_back(n);
  std::string out;
  EXPECT_EQ(sh("docker volume create --label mupgrade.test=1 '" + n + "' >/dev/null && docker volume inspect -f '{{.Mountpoint}}' '" + n + "'", &out), 0) << out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

namespace {

void write_secret(const std::string& dir, const std::string& name, const std::string& value) {
  std::string p = dir + "/" + name;
  std::ofstream(p) << value;
  ::chmod(p.c_str(), 0644);  // read by the DB image's own user
}

// The Alpine-like stack's Redis: mupgrade's image as uid 999, its dump elsewhere, no save points
// (only the SAVE adopt asks for writes the dump).
docker::ContainerSpec alpine_redis(const std::string& project, const std::string& net, const std::string& dir) {
  docker::ContainerSpec r;
  r.name = unique_name("redis");
  r.image = core::kDefaultRedisImage;
  r.labels = {{"mupgrade.test", "1"}, {"com.docker.compose.project", project}, {"com.docker.compose.service", "redis"}};
  r.network = net;
  r.network_aliases = {"redis"};
  // Its password (config.php's session_redis_auth and the MUC store's) from a file, not argv.
  std::ofstream(dir + ".conf") << "requirepass " << kAlpineRedisPassword << "\n";
  r.mounts = {{dir, "/var/lib/redis", false}, {dir + ".conf", "/etc/stack-redis.conf", true}};
  r.entrypoint = {"/bin/bash", "-c",
                  "usermod -u 999 redis && groupmod -g 999 redis && chown -R redis:redis /var/lib/redis && exec setpriv --reuid=redis "
                  "--regid=redis --init-groups redis-server /etc/stack-redis.conf --bind 0.0.0.0 --port 6379 --protected-mode no "
                  "--daemonize no --logfile '' --dir /var/lib/redis --dbfilename moodle.rdb --appendonly no --save ''"};
  r.stop_timeout_s = 10;
  return r;
}

// Sessions and a MUC store in the stack's Redis, as config-dist.php and the admin UI write them.
const char* kAlpineRedisConfig =
    "$CFG->session_handler_class = '\\core\\session\\redis';\n$CFG->session_redis_host = 'redis';\n"
    "$CFG->session_redis_port = 6379;\n$CFG->session_redis_prefix = 'sess_';\n$CFG->session_redis_auth = 'Redis-pw-1';\n";

// The DB container's main process `cmd`. With a delay, the first stop signal (TERM, or INT:
// PostgreSQL's fast shutdown) reaches the DB that much later (later ones are ignored: it is on
// its way down); its exit code is the container's.
std::string db_main(const std::string& cmd, int delay_s) {
  if (delay_s <= 0) return "exec " + cmd;
  return fmt::format("{} & p=$!; late() {{ trap '' TERM INT; sleep {}; kill -$1 $p; }}; trap 'late TERM' TERM; trap 'late INT' INT; "
                     "wait $p; s=$?; if [ $s -gt 128 ]; then wait $p; s=$?; fi; exit $s",  // the trap cut the first wait short
                     cmd, delay_s);
}

docker::ExecResult exec_until_ok(const std::string& container, const docker::ExecOptions& opts) {
  docker::ExecResult r;
  for (int i = 0; i < 60; ++i) {
    r = engine().exec(container, opts);
    if (r.exit_code == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return r;
}

}  // namespace

const char* const kAlpineMuc =
    "<?php defined('MOODLE_INTERNAL') || die();\n $configuration = array('stores' => array('redis1' => array('name' => 'redis1', "
    "'plugin' => 'redis', 'configuration' => array('server' => 'redis:6379', 'prefix' => 'muc_', 'password' => 'Redis-pw-1'), "
    "'class' => 'cachestore_redis')));\n";

Stack make_stack(Cleanup& cleanup, StackVolumes& volumes, const StackFamily& fam, const std::string& data_dir) {
  Stack s;
  s.project = unique_name("proj");
  s.host = fmt::format("moodle.test:{}", fam.port);
  std::string net = unique_name("net");
  cleanup.network(engine().create_network(net, {{"mupgrade.test", "1"}, {"com.docker.compose.project", s.project}}));
  std::string secrets = data_dir + "/secrets";
  fs::create_directories(secrets);
  write_secret(secrets, "root", "Root-pw-1");
  write_secret(secrets, "user", "Moodle-pw-1");
  bool bitnami = fam.kind == StackKind::bitnami, alpine = fam.kind == StackKind::alpine;
  std::string dataroot, dbhost = bitnami ? "mariadb" : "postgres";
  docker::ContainerSpec db;
  db.name = s.db = unique_name("db");
  db.labels = {{"mupgrade.test", "1"}, {"com.docker.compose.project", s.project}, {"com.docker.compose.service", dbhost}};
  db.network = net;
  db.network_aliases = {dbhost};
  std::string code_volume, data_volume;
  if (bitnami) {
    s.code_host = volumes.make("code");
    code_volume = volumes.names.back();
    s.moodledata_host = volumes.make("data");
    data_volume = volumes.names.back();
    volumes.make("mariadb");
    s.code_in = "/bitnami/moodle";
    dataroot = "/bitnami/moodledata";
    db.image = "mupgrade/mariadb:10.11";
    db.mounts = {{volumes.names.back(), "/bitnami/mariadb", false}, {secrets, "/run/secrets", true}};
    // Bitnami's layout: the data dir under the volume's data/.
    db.entrypoint = {"/bin/bash", "-c",
                     "mkdir -p /bitnami/mariadb/data && chown mysql:mysql /bitnami/mariadb/data && "
                     "sed 's#^datadir=/var/lib/mysql#datadir=/bitnami/mariadb/data#' /usr/local/bin/mariadb-entrypoint >/tmp/ep || exit 1; " +
                         db_main("bash /tmp/ep", fam.db_stop_delay_s)};
    db.env = {{"MARIADB_ROOT_PASSWORD_FILE", "/run/secrets/root"}, {"MARIADB_DATABASE", "bitnami_moodle"}, {"MARIADB_USER", "bn_moodle"},
              {"MARIADB_PASSWORD_FILE", "/run/secrets/user"}};
  } else if (alpine) {
    s.code_host = data_dir + "/moodle-code";
    s.moodledata_host = volumes.make("moodledata");
    data_volume = volumes.names.back();
    volumes.make("pg");
    s.code_in = "/srv/moodle";
    dataroot = "/var/lib/moodledata";
    db.image = "mupgrade/postgres:15";
    // Alpine's postgres is uid 70, its PGDATA a subdir of the volume.
    db.mounts = {{volumes.names.back(), "/var/lib/postgresql/data", false}, {secrets, "/run/secrets", true}};
    db.entrypoint = {"/bin/bash", "-c",
                     "usermod -u 70 postgres && groupmod -g 70 postgres && chown -R postgres:postgres /var/run/postgresql /var/lib/postgresql || exit 1; " +
                         db_main("/usr/local/bin/postgres-entrypoint", fam.db_stop_delay_s)};
    db.env = {{"POSTGRES_PASSWORD_FILE", "/run/secrets/root"}, {"PGDATA", "/var/lib/postgresql/data/pgdata"}};
    fs::create_directories(data_dir + "/redis");
    auto redis = alpine_redis(s.project, net, data_dir + "/redis");
    s.redis = redis.name;
    cleanup.container(engine().create_container(redis));
    engine().start_container(redis.name);
  } else {
    s.code_host = data_dir + (fam.image_code ? "/image/code" : "/html");
    s.moodledata_host = data_dir + "/moodledata";
    fs::create_directories(s.moodledata_host);
    fs::create_directories(data_dir + "/pgdata");
    s.code_in = "/var/www/html";
    dataroot = "/var/www/moodledata";
    db.image = "mupgrade/postgres:15";
    db.mounts = {{data_dir + "/pgdata", "/var/lib/postgresql/data", false}, {secrets, "/run/secrets", true}};
    // Moodle's own role and DB are made below (the image's POSTGRES_USER path fails on psql's -c).
    db.env = {{"POSTGRES_PASSWORD_FILE", "/run/secrets/root"}};
    if (fam.db_stop_delay_s > 0) db.entrypoint = {"/bin/bash", "-c", db_main("/usr/local/bin/postgres-entrypoint", fam.db_stop_delay_s)};
  }
  s.uid = bitnami ? 1001 : alpine ? 82 : 33;
  make_release("4.4.1", s.code_host);
  ::chown(s.moodledata_host.c_str(), s.uid, s.uid);
  std::ofstream(s.code_host + "/config.php") << fmt::format(
      "<?php  // Moodle configuration file\nunset($CFG);\nglobal $CFG;\n$CFG = new stdClass();\n$CFG->dbtype = '{}';\n"
      "$CFG->dblibrary = 'native';\n$CFG->dbhost = '{}';\n$CFG->dbname = '{}';\n$CFG->dbuser = '{}';\n$CFG->dbpass = 'Moodle-pw-1';\n"
      "$CFG->prefix = 'mdl_';\n$CFG->dboptions = array('dbpersist' => 0, 'dbport' => '');\n$CFG->wwwroot = 'http://{}';\n"
      "$CFG->dataroot = '{}';\n$CFG->admin = 'admin';\n$CFG->directorypermissions = 02777;\n{}require_once(__DIR__ . '/lib/setup.php');\n",
      bitnami ? "mariadb" : "pgsql", dbhost, bitnami ? "bitnami_moodle" : "moodle", bitnami ? "bn_moodle" : "moodleuser", s.host,
      dataroot, alpine ? kAlpineRedisConfig : "");
  if (alpine) {
    fs::create_directories(s.moodledata_host + "/muc");
    std::ofstream(s.moodledata_host + "/muc/config.php") << kAlpineMuc;
    ::chown((s.moodledata_host + "/muc").c_str(), s.uid, s.uid);
    ::chown((s.moodledata_host + "/muc/config.php").c_str(), s.uid, s.uid);
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
  if (!bitnami) {
    docker::ExecOptions role;
    role.cmd = {"psql", "-v", "ON_ERROR_STOP=1", "-c", "CREATE ROLE moodleuser LOGIN PASSWORD 'Moodle-pw-1'", "-c",
                "CREATE DATABASE moodle OWNER moodleuser"};
    role.user = "postgres";
    role.timeout = std::chrono::seconds(20);
    auto rr = exec_until_ok(db.name, role);
    EXPECT_EQ(rr.exit_code, 0) << rr.out << rr.err;
  }

  docker::ContainerSpec web;
  web.name = s.web = unique_name("web");
  web.image = web_image;
  web.labels = {{"mupgrade.test", "1"}, {"com.docker.compose.project", s.project}, {"com.docker.compose.service", "moodle"}};
  web.network = net;
  web.network_aliases = {"moodle"};
  web.env = {{"MOODLE_CODE", s.code_in}, {"MOODLE_WEBROOT", s.code_in}, {"MOODLE_HTTP_PORT", std::to_string(fam.port)}};
  web.ports = {{fam.port, fam.port, "127.0.0.1"}};
  web.stop_timeout_s = 10;
  if (bitnami || alpine) {
    web.mounts = {{bitnami ? code_volume : s.code_host, s.code_in, false}, {data_volume, dataroot, false}};
    web.cmd = {"/bin/sh", "-c",
               fmt::format("export APACHE_RUN_USER='#{0}' APACHE_RUN_GROUP='#{0}'; rm -f \"$APACHE_PID_FILE\"; exec apache2 -DFOREGROUND", s.uid)};
  } else if (fam.image_code) {
    web.mounts = {{s.moodledata_host, dataroot, false}};
  } else {
    web.mounts = {{s.code_host, s.code_in, false}, {s.moodledata_host, dataroot, false}};
  }
  cleanup.container(engine().create_container(web));
  engine().start_container(web.name);
  // The DB takes a few seconds to initialise: the install retries until it connects.
  docker::ExecOptions install;
  install.cmd = {"php", "admin/cli/install_database.php", "--agree-license", "--adminpass=Admin-1234"};
  install.user = std::to_string(s.uid);
  install.workdir = s.code_in;
  install.timeout = std::chrono::seconds(60);
  auto r = exec_until_ok(web.name, install);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // A user's file in moodledata: it must come through adopt and undo.
  std::ofstream(s.moodledata_host + "/users-file.txt") << "kept";
  ::chown((s.moodledata_host + "/users-file.txt").c_str(), s.uid, s.uid);
  EXPECT_TRUE(wait_200(fam.port, s.host)) << "the stack does not serve";
  return s;
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

std::string login(int port, const std::string& host) {
  std::string out;
  EXPECT_EQ(sh(fmt::format("curl -s -D - -o /dev/null -H 'Host: {}' --data username=admin http://127.0.0.1:{}/login/index.php", host, port), &out), 0);
  std::smatch m;
  if (!std::regex_search(out, m, std::regex("MoodleSession=([0-9a-f]{32})"))) ADD_FAILURE() << "no session cookie in:\n" << out;
  return m.size() > 1 ? m[1].str() : "";
}

std::string whoami(int port, const std::string& host, const std::string& sid) {
  std::string out;
  sh(fmt::format("curl -s -H 'Host: {}' -H 'Cookie: MoodleSession={}' http://127.0.0.1:{}/local/standin/whoami.php", host, sid, port), &out);
  std::smatch user;
  return std::regex_search(out, user, std::regex("user: [a-z]+")) ? user[0].str() : "no answer: " + out.substr(0, 200);
}

namespace {

// Writes `size` bytes of cheap pseudo-random content (no run of zeros a filesystem could skip).
void write_blob(const std::string& path, std::uint64_t size, std::mt19937_64& rng, unsigned uid) {
  static thread_local std::vector<std::uint64_t> buf(1 << 16);
  std::ofstream f(path, std::ios::binary);
  for (std::uint64_t left = size; left > 0;) {
    for (auto& w : buf) w = rng();
    auto n = std::min<std::uint64_t>(left, buf.size() * sizeof(std::uint64_t));
    f.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(n));
    left -= n;
  }
  f.close();
  ::chown(path.c_str(), uid, uid);
}

void make_owned_dirs(const fs::path& dir, const fs::path& root, unsigned uid) {
  fs::create_directories(dir);
  for (fs::path p = dir; p != root && p.has_relative_path(); p = p.parent_path()) ::chown(p.c_str(), uid, uid);
}

}  // namespace

size_t fill_moodledata(const std::string& dir, std::uint64_t bytes, unsigned uid, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> log_size(std::log(1024.0), std::log(4.0 * 1024 * 1024));
  std::uniform_int_distribution<int> small(512, 8192);
  size_t files = 0;
  std::uint64_t written = 0, cache_bytes = bytes / 50;
  // Caches and sessions: many small files.
  for (std::uint64_t n = 0; written < cache_bytes; ++n) {
    const char* area = n % 10 == 0 ? "sessions" : n % 3 == 0 ? "localcache/mustache" : "cache/cachestore_file/default_application";
    fs::path d = fs::path(dir) / area / fmt::format("{:02x}", n % 64);
    make_owned_dirs(d, dir, uid);
    std::uint64_t size = static_cast<std::uint64_t>(small(rng));
    write_blob((d / fmt::format("{:016x}.cache", rng())).string(), size, rng, uid);
    written += size, ++files;
  }
  // The file pool: filedir/ab/cd/abcd... (Moodle names a file by its content's SHA-1).
  while (written < bytes) {
    std::string hash = fmt::format("{:016x}{:016x}{:08x}", rng(), rng(), static_cast<unsigned>(rng()));
    fs::path d = fs::path(dir) / "filedir" / hash.substr(0, 2) / hash.substr(2, 2);
    make_owned_dirs(d, dir, uid);
    auto size = std::min<std::uint64_t>(static_cast<std::uint64_t>(std::exp(log_size(rng))), bytes - written);
    write_blob((d / hash).string(), size, rng, uid);
    written += size, ++files;
  }
  return files;
}

int posts_tagged(const std::string& web_container, const std::string& code_in, unsigned uid, const std::string& tag) {
  docker::ExecOptions q;
  q.cmd = {"php", "-r",
           fmt::format("define('CLI_SCRIPT', true); require 'config.php'; "
                       "echo db_value('SELECT COUNT(*) FROM ' . t('forum_posts') . ' WHERE subject = ?', ['{}']);",
                       tag)};
  q.user = std::to_string(uid);
  q.workdir = code_in;
  q.timeout = std::chrono::seconds(30);
  auto r = engine().exec(web_container, q);
  if (r.exit_code != 0 || r.out.empty()) return -1;
  return std::atoi(r.out.c_str());
}

}  // namespace mupgrade::itest
