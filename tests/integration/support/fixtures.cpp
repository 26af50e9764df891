#include "fixtures.hpp"

#include "mupgrade/btrfs/local_storage.hpp"
#include "mupgrade/db/site_database.hpp"
#include "mupgrade/http/http_client.hpp"
#include "mupgrade/process/run.hpp"
#include "mupgrade/proxy/proxy.hpp"
#include "mupgrade/report/host_reporting.hpp"

#include "mupgrade/btrfs/btrfs.hpp"
#include "mupgrade/core/journal.hpp"

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

namespace mupgrade::itest {

namespace fs = std::filesystem;

std::string test_pool() {
  const char* pool = std::getenv("MUPGRADE_TEST_POOL");
  if (!pool || !*pool) {
    ADD_FAILURE() << "MUPGRADE_TEST_POOL is not set: run the tests through scripts/test (it makes a btrfs pool)";
    throw std::runtime_error("MUPGRADE_TEST_POOL is not set");
  }
  if (!btrfs::is_btrfs(pool)) {
    ADD_FAILURE() << "MUPGRADE_TEST_POOL=" << pool << " is not on btrfs";
    throw std::runtime_error("MUPGRADE_TEST_POOL is not btrfs");
  }
  return test_pool_or_empty();  // without a trailing '/', as clean-ups compare paths with it
}

namespace {
bool all_of(std::string_view s, bool (*ok)(char)) {
  for (char c : s)
    if (!ok(c)) return false;
  return !s.empty();
}
bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool digit(char c) { return c >= '0' && c <= '9'; }
bool hex(char c) { return digit(c) || (c >= 'a' && c <= 'f'); }
bool suffix_char(char c) { return lower_alnum(c) || c == '-' || c == '_' || (c >= 'A' && c <= 'Z'); }
}  // namespace

std::string unique_name(const std::string& prefix) {
  static std::mt19937_64 rng{std::random_device{}()};
  if (!all_of(prefix, lower_alnum))
    ADD_FAILURE() << "unique_name('" << prefix << "'): the prefix must be [a-z0-9]+, or clean-ups will not recognise the name";
  return fmt::format("mupt-{}-{}-{:06x}", prefix, ::getpid(), rng() & 0xffffff);
}

bool is_own_test_name(std::string_view name, bool allow_suffix) {
  constexpr std::string_view head = "mupt-";
  if (name.substr(0, head.size()) != head) return false;
  name.remove_prefix(head.size());
  auto dash = name.find('-');
  if (dash == std::string_view::npos || !all_of(name.substr(0, dash), lower_alnum)) return false;
  name.remove_prefix(dash + 1);
  std::string pid = std::to_string(::getpid()) + "-";
  if (name.substr(0, pid.size()) != pid) return false;
  name.remove_prefix(pid.size());
  if (name.size() < 6 || !all_of(name.substr(0, 6), hex)) return false;
  name.remove_prefix(6);
  if (name.empty()) return true;
  return allow_suffix && name.size() > 1 && name[0] == '-' && all_of(name.substr(1), suffix_char);
}

std::string own_test_path_problem(const std::string& path, const std::string& parent, bool allow_suffix) {
  std::string dir = parent;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (dir.empty()) return fmt::format("'{}': the dir it must be in is not known (empty)", path);
  if (dir.front() != '/' || dir == "/") return fmt::format("'{}': the dir it must be in ('{}') is not an absolute dir below /", path, dir);
  if (path.empty()) return "an empty path";
  if (path.size() <= dir.size() + 1 || path.compare(0, dir.size() + 1, dir + "/") != 0)
    return fmt::format("'{}' is not directly in {}", path, dir);
  std::string base = path.substr(dir.size() + 1);
  if (!is_own_test_name(base, allow_suffix))
    return fmt::format("'{}' is not named mupt-<what>-{}-<random>{}: this test process did not make it", path, ::getpid(),
                       allow_suffix ? "[-suffix]" : "");
  return {};
}

std::string test_pool_or_empty() {
  const char* pool = std::getenv("MUPGRADE_TEST_POOL");
  std::string p = pool ? pool : "";
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

docker::DockerEngine& engine() {
  static docker::DockerEngine e;
  return e;
}

ports::Ports host_ports() {
  static btrfs::LocalStorage storage;
  static process::LocalCommands commands;
  static http::CurlHttp http;
  static db::SqlDatabase db;
  static proxy::DockerProxies proxies(engine());
  static report::HostReporting reporting;
  return {storage, engine(), commands, http, db, proxies, reporting};
}

Cleanup::~Cleanup() {
  for (auto it = items_.rbegin(); it != items_.rend(); ++it) {
    try {
      switch (it->kind) {
        case Kind::container: {
          if (it->what.empty()) {
            ADD_FAILURE() << "cleanup: refusing to remove a container with an empty id";
            break;
          }
          auto info = engine().inspect_container(it->what);
          if (!info) break;  // gone already
          if (!is_own_test_name(info->name)) {
            ADD_FAILURE() << "cleanup: refusing to remove container " << info->name << " (" << it->what
                          << "): not named by unique_name in this test process";
            break;
          }
          engine().remove_container(info->id, true);
          break;
        }
        case Kind::network: {
          if (it->what.empty()) {
            ADD_FAILURE() << "cleanup: refusing to remove a network with an empty id";
            break;
          }
          auto info = engine().inspect_network(it->what);
          if (!info) break;
          std::string name = info->value("Name", "");
          if (!is_own_test_name(name)) {
            ADD_FAILURE() << "cleanup: refusing to remove network " << name << " (" << it->what
                          << "): not named by unique_name in this test process";
            break;
          }
          engine().remove_network(info->value("Id", it->what));
          break;
        }
        case Kind::subvolume:
          if (std::string problem = own_test_path_problem(it->what, test_pool_or_empty(), true); !problem.empty()) {
            ADD_FAILURE() << "cleanup: refusing to delete subvolume " << problem;
            break;
          }
          if (btrfs::is_subvolume(it->what)) btrfs::delete_subvolume(it->what);
          break;
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cleanup of " << it->what << " failed: " << e.what();
    }
  }
}

std::string make_subvolume(Cleanup& cleanup, const std::string& prefix) {
  std::string path = test_pool() + "/" + unique_name(prefix);
  btrfs::create_subvolume(path);
  cleanup.subvolume(path);
  return path;
}

int sh(const std::string& command, std::string* out) {
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return -1;
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) text.append(buf, n);
  int status = ::pclose(p);
  if (out) *out = text;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  // A shell that execs the last command of `sh -c` (bash does; Debian 12's dash does not) is
  // the killed command itself: report it as a shell would.
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

namespace {
std::map<std::string, std::uintmax_t> journal_sizes(const std::string& dir) {
  std::map<std::string, std::uintmax_t> sizes;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return sizes;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".jsonl") sizes[e.path().string()] = fs::file_size(e.path(), ec);
  return sizes;
}
}  // namespace

::testing::AssertionResult crashes_after_step(const std::string& state_dir, const std::string& step,
                                              const std::string& args, std::string* out) {
  std::string dir = state_dir + "/journal";
  auto before = journal_sizes(dir);
  std::string text;
  int rc = sh(fmt::format("MUPGRADE_CRASH_AFTER_STEP='{}' {} {}", step, MUPGRADE_BINARY, args), &text);
  if (out) *out = text;
  auto fail = [&](const std::string& why) {
    return ::testing::AssertionFailure() << "MUPGRADE_CRASH_AFTER_STEP=" << step << " mupgrade " << args << ": " << why
                                         << "\n--- its output:\n" << text;
  };
  if (rc != 137) return fail(fmt::format("exit status {}, not 137 (killed by SIGKILL): it did not crash as injected", rc));

  // Only the lines this run wrote: a new journal, or what it appended to one.
  std::vector<std::pair<std::string, core::JournalSummary>> begun;
  for (const auto& [path, size] : journal_sizes(dir)) {
    auto old = before.find(path);
    std::uintmax_t from = old == before.end() ? 0 : old->second;
    if (old != before.end() && size == from) continue;
    std::string all = read_file(path);
    std::string lines = from == 0 || from > all.size() ? all : std::string(core::kJournalHeader) + "\n" + all.substr(from);
    try {
      auto summary = core::parse_journal(lines, path);
      if (!summary.started_at.empty()) begun.emplace_back(path, std::move(summary));
    } catch (const std::exception& e) {
      return fail(e.what());
    }
  }
  if (begun.size() != 1) return fail(fmt::format("{} journals under {} began an operation, not one", begun.size(), dir));
  const auto& [path, journal] = begun.front();
  std::string steps;
  for (const auto& r : journal.steps) steps += fmt::format(" {}:{}", r.name, r.ended ? r.outcome : "begun");
  const core::StepRecord* r = journal.find(step);
  if (!r) return fail(fmt::format("the journal {} never began step '{}'; its steps:{}", path, step, steps));
  if (!r->ended || r->outcome != "ok")
    return fail(fmt::format("step '{}' did not end ok in {}; its steps:{}", step, path, steps));
  if (journal.steps.back().name != step)
    return fail(fmt::format("a step after '{}' began in {}; its steps:{}", step, path, steps));
  if (journal.finished)
    return fail(fmt::format("the operation ended ({}) in {}: the kill did not cut it short", journal.outcome, path));
  return ::testing::AssertionSuccess();
}

namespace {

// Removes the per-process secrets dir when the test process ends.
struct SecretsDir {
  std::string path = fmt::format("/tmp/mupgrade-itest-{}", ::getpid());
  ~SecretsDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// Exists for the whole test process, whoever uses the dir.
SecretsDir secrets;

// One password per test process, in a file the DB containers read at init.
const std::string& db_password_file() {
  static std::string path = [] {
    std::string dir = secrets.path;
    fs::create_directories(dir);
    std::string file = dir + "/db_password";
    std::ofstream(file) << fmt::format("pw-{}-{}", ::getpid(), std::random_device{}());
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
    return file;
  }();
  return path;
}

}  // namespace

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

DbServer start_db(Cleanup& cleanup, db::Kind kind, const std::string& network, const std::string& datadir,
                  const std::string& name_prefix) {
  bool maria = kind == db::Kind::mariadb;
  docker::ContainerSpec spec;
  spec.name = unique_name(name_prefix);
  spec.image = maria ? "mupgrade/mariadb:10.11" : "mupgrade/postgres:15";
  spec.labels = {{"mupgrade.test", "1"}};
  spec.network = network;
  spec.mounts = {{datadir, maria ? "/var/lib/mysql" : "/var/lib/postgresql/data", false},
                 {db_password_file(), "/run/secrets/db_password", true}};
  if (maria) spec.env = {{"MARIADB_ROOT_PASSWORD_FILE", "/run/secrets/db_password"}, {"MARIADB_DATABASE", "moodle"}};
  else spec.env = {{"POSTGRES_PASSWORD_FILE", "/run/secrets/db_password"}, {"POSTGRES_DB", "moodle"}};
  spec.ports = {{maria ? 3306 : 5432, 0, "127.0.0.1"}};
  spec.stop_signal = maria ? "SIGTERM" : "SIGINT";
  std::string id = engine().create_container(spec);
  cleanup.container(id);
  engine().start_container(id);
  auto info = engine().inspect_container(id);
  DbServer s;
  s.container = spec.name;
  s.datadir = datadir;
  s.endpoint.kind = kind;
  s.endpoint.port = info->host_ports.at(maria ? 3306 : 5432);
  s.endpoint.user = maria ? "root" : "postgres";
  s.endpoint.password = Secret(read_file(db_password_file()));
  s.endpoint.database = "moodle";
  try {
    db::connect_when_ready(s.endpoint, std::chrono::seconds(90));
  } catch (const std::exception& e) {
    ADD_FAILURE() << "DB container " << spec.name << " did not answer: " << e.what() << "\n" << engine().logs(id, 30);
    throw;
  }
  return s;
}

std::string scratch_dir() {
  fs::create_directories(secrets.path);
  return secrets.path;
}

std::string scratch_path() { return secrets.path; }

void make_release(const std::string& release, const std::string& dest, const std::vector<std::string>& extra_args) {
  std::string cmd = fmt::format("{}/tests/moodle-standin/make-release {} {}", MUPGRADE_SOURCE_DIR, release, dest);
  for (auto& a : extra_args) cmd += " '" + a + "'";
  std::string out;
  ASSERT_EQ(sh(cmd, &out), 0) << out;
}

std::string start_web(Cleanup& cleanup, const std::string& network, const std::string& code,
                      const std::string& moodledata, const std::string& set_name, int* port, bool public_dir) {
  docker::ContainerSpec spec;
  spec.name = unique_name("web");
  spec.image = "mupgrade/web:php8.2";
  spec.labels = {{"mupgrade.test", "1"}};
  spec.network = network;
  spec.mounts = {{code, "/var/www/moodle", true}, {moodledata, "/var/www/moodledata", false}};
  spec.env = {{"MUPGRADE_SET", set_name}, {"MOODLE_WEBROOT", public_dir ? "/var/www/moodle/public" : "/var/www/moodle"}};
  spec.ports = {{80, 0, "127.0.0.1"}};
  std::string id = engine().create_container(spec);
  cleanup.container(id);
  engine().start_container(id);
  if (port) *port = engine().inspect_container(id)->host_ports.at(80);
  return spec.name;
}

StandinSite start_standin(Cleanup& cleanup, db::Kind kind, const std::string& release,
                          const std::vector<std::string>& knobs, const std::vector<std::string>& release_args) {
  StandinSite site;
  site.network = unique_name("net");
  std::string net_id = engine().create_network(site.network, {{"mupgrade.test", "1"}});
  cleanup.network(net_id);
  site.set_name = unique_name("set");
  site.code = make_subvolume(cleanup, "code");
  site.moodledata = make_subvolume(cleanup, "data");
  std::string dbdir = make_subvolume(cleanup, "db");
  std::vector<std::string> args = release_args;
  for (auto& k : knobs) {
    args.push_back("--knob");
    args.push_back(k);
  }
  make_release(release, site.code, args);
  ::chown(site.moodledata.c_str(), 33, 33);  // www-data in Debian's images
  site.db = start_db(cleanup, kind, site.network, dbdir);
  bool public_dir = fs::exists(site.code + "/public/version.php");
  // config.php as a site keeps it in its code tree: the set's DB by container name.
  std::ofstream(site.code + "/config.php") << fmt::format(
      "<?php\nunset($CFG);\nglobal $CFG;\n$CFG = new stdClass();\n"
      "$CFG->dbtype = '{}';\n$CFG->dblibrary = 'native';\n$CFG->dbhost = '{}';\n$CFG->dbname = 'moodle';\n"
      "$CFG->dbuser = '{}';\n$CFG->dbpass = '{}';\n$CFG->prefix = 'mdl_';\n"
      "$CFG->dboptions = array('dbpersist' => 0, 'dbport' => '');\n"
      "$CFG->wwwroot = 'http://{}';\n$CFG->dataroot = '/var/www/moodledata';\n$CFG->admin = 'admin';\n"
      "$CFG->directorypermissions = 02777;\nrequire_once(__DIR__ . '/lib/setup.php');\n",
      kind == db::Kind::mariadb ? "mariadb" : "pgsql", site.db.container, site.db.endpoint.user,
      site.db.endpoint.password.reveal(), site.host);
  site.web = start_web(cleanup, site.network, site.code, site.moodledata, site.set_name, &site.web_port, public_dir);
  docker::ExecOptions install;
  install.cmd = {"php", public_dir ? "public/admin/cli/install_database.php" : "admin/cli/install_database.php",
                 "--agree-license", "--adminpass=Admin-1234"};
  install.user = "www-data";
  install.workdir = "/var/www/moodle";
  install.timeout = std::chrono::seconds(60);
  auto r = engine().exec(site.web, install);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  return site;
}

}  // namespace mupgrade::itest
