#include "site_fixture.hpp"

#include "mupgrade/btrfs/btrfs.hpp"
#include "mupgrade/http/http_client.hpp"
#include "mupgrade/config/playbook_load.hpp"
#include "mupgrade/ops/operations.hpp"
#include "mupgrade/proxy/proxy.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace mupgrade::itest {

namespace fs = std::filesystem;

std::string LifecycleSite::release(const std::string& rel, const std::vector<std::string>& knobs, const std::vector<std::string>& release_args) {
    std::string all;
    for (const auto& k : knobs) all += k + ";";
    for (const auto& a : release_args) all += a + ";";
    std::string dir = releases + "/" + rel + (all.empty() ? "" : fmt::format("-{:x}", std::hash<std::string>{}(all)));
    if (fs::exists(dir)) return dir;
    btrfs::create_subvolume(dir);
    std::vector<std::string> args = release_args;
    for (auto& k : knobs) args.insert(args.end(), {"--knob", k});
    make_release(rel, dir, args);
    return dir;
  }
std::vector<std::string> LifecycleSite::step_names(const std::string& operation) {
  ops::StepContext ctx;
  ctx.operation = operation;
  ctx.blue = blue;
  ctx.green = "x";
  ctx.target_code = cfg.target_code;
  std::vector<std::string> names;
  for (auto& s : ops::compose_steps(*site, ctx)) names.push_back(s.name);
  return names;
}

std::string LifecycleSite::served_release() {
    auto r = http::get(cfg.proxy.url + "/login/index.php", cfg.public_host);
    auto at = r.body.find("class=\"release\">");
    if (r.status != 200 || at == std::string::npos) return "HTTP " + std::to_string(r.status);
    std::string text = r.body.substr(at + 16, r.body.find('<', at) - at - 16);
    return text.rfind("Moodle ", 0) == 0 ? text.substr(7) : text;
  }

SiteCleanup::~SiteCleanup() {
  if (site.empty() && pool.empty() && state.empty()) {
    // make_site sets all three before it makes anything: it failed before that, nothing to remove.
    std::fprintf(stderr, "site cleanup: no site was registered, nothing removed\n");
    return;
  }
  // Everything below acts on objects selected by these three: refuse unless each is this
  // process's own, as make_site names them. An empty site would select every site's containers.
  std::string problem;
  if (!is_own_test_name(site)) problem = fmt::format("site '{}' is not named mupt-<what>-{}-<random>", site, ::getpid());
  else if (std::string p = own_test_path_problem(pool, test_pool_or_empty()); !p.empty()) problem = "pool " + p;
  else if (std::string s = own_test_path_problem(state, scratch_path()); !s.empty()) problem = "state dir " + s;
  else if (fs::path(pool).filename() != site || fs::path(state).filename() != site)
    problem = fmt::format("pool '{}' and state dir '{}' are not the site's '{}'", pool, state, site);
  if (!problem.empty()) {
    ADD_FAILURE() << "site cleanup: refusing to remove anything: " << problem;
    return;
  }
  // mupgrade names a site's objects mupgrade-<site>[-...]: a second check besides the label.
  auto owned = [&](const std::string& name) {
    return name == "mupgrade-" + site || name.rfind("mupgrade-" + site + "-", 0) == 0;
  };
  try {
    for (auto& c : engine().list_containers({{"mupgrade.site", site}})) {
      if (owned(c.name)) engine().remove_container(c.id, true);
      else ADD_FAILURE() << "site cleanup: container " << c.name << " carries mupgrade.site=" << site << " but not its name; left alone";
    }
    for (auto& n : engine().list_networks({{"mupgrade.site", site}})) {
      if (owned(n.name)) engine().remove_network(n.id);
      else ADD_FAILURE() << "site cleanup: network " << n.name << " carries mupgrade.site=" << site << " but not its name; left alone";
    }
  } catch (const std::exception& e) {
    ADD_FAILURE() << "site cleanup of " << site << " failed: " << e.what();
  }
  // Nested subvolumes first (a subvolume's root dir has inode 256), then the plain dirs.
  std::string out;
  if (sh("find '" + pool + "' -mindepth 1 -inum 256 -type d | sort -r | xargs -r btrfs subvolume delete; rm -rf -- '" + pool +
             "' '" + state + "'",
         &out) != 0)
    std::fprintf(stderr, "site cleanup of %s and %s: %s\n", pool.c_str(), state.c_str(), out.c_str());
}

std::unique_ptr<LifecycleSite> make_site(SiteCleanup& cleanup, db::Kind kind, int port, const std::string& extra_yaml, const SiteOptions& opts) {
  auto ls = std::make_unique<LifecycleSite>();
  std::string name = unique_name("s");
  auto& c = ls->cfg;
  c.site = name;
  c.public_url = "http://moodle.test:" + std::to_string(port);
  c.public_host = "moodle.test:" + std::to_string(port);
  c.pool = test_pool() + "/" + name;
  c.state_dir = scratch_dir() + "/" + name;
  cleanup.pool = c.pool;  // set before anything exists, so a failing setup is cleaned too
  cleanup.state = c.state_dir;
  cleanup.site = name;
  c.network = "mupgrade-" + name;
  c.db.kind = kind;
  c.db.image = kind == db::Kind::mariadb ? "mupgrade/mariadb:10.11" : "mupgrade/postgres:15";
  c.db.user = kind == db::Kind::mariadb ? "root" : "postgres";
  c.web_image = c.target_image = "mupgrade/web:php8.2";
  c.web_port = port;
  c.proxy = {opts.proxy, "mupgrade-" + name + "-proxy", c.state_dir + "/proxy", ""};
  c.cron_drain_timeout_s = 10;
  if (opts.redis) c.cache = {"redis", core::kDefaultRedisImage};
  fs::create_directories(c.state_dir + "/proxy");
  fs::create_directories(c.pool + "/sets");
  fs::create_directories(c.pool + "/releases");
  ls->releases = c.pool + "/releases";
  c.db.password_file = c.state_dir + "/db_password";
  std::ofstream(c.db.password_file) << "pw-" << name;
  engine().create_network(c.network, {{"mupgrade.site", name}});

  ls->blue = "blue-4.4.1";
  c.target_code = ls->release("4.4.3");
  config::load_playbooks(c);
  ls->site = std::make_unique<ops::Site>(c, host_ports());
  auto p = ls->site->paths(ls->blue);
  fs::create_directories(p.dir);
  btrfs::snapshot(ls->release("4.4.1", opts.blue_knobs, opts.blue_release_args), p.code);
  btrfs::create_subvolume(p.db);
  btrfs::create_subvolume(p.moodledata);
  ::chown(p.moodledata.c_str(), 33, 33);
  std::string redis_config;
  if (opts.redis) {
    btrfs::create_subvolume(p.cache);
    // Sessions in the set's Redis (reached as "cache" on the set's network), as config-dist.php shows.
    redis_config = "$CFG->session_handler_class = '\\core\\session\\redis';\n$CFG->session_redis_host = 'cache';\n"
                   "$CFG->session_redis_port = 6379;\n$CFG->session_redis_prefix = 'sess_';\n";
    // A Redis MUC store, as the admin UI writes muc/config.php (only what the stand-in reads).
    fs::create_directories(p.moodledata + "/muc");
    std::ofstream(p.moodledata + "/muc/config.php")
        << "<?php defined('MOODLE_INTERNAL') || die();\n $configuration = array('stores' => array('redis1' => array('name' => 'redis1', "
           "'plugin' => 'redis', 'configuration' => array('server' => 'cache', 'prefix' => 'muc_'), 'class' => 'cachestore_redis')));\n";
  }
  std::ofstream(p.code + "/config.php") << fmt::format(
      "<?php\nunset($CFG);\nglobal $CFG;\n$CFG = new stdClass();\n$CFG->dbtype = '{}';\n$CFG->dblibrary = 'native';\n"
      "$CFG->dbhost = 'db';\n$CFG->dbname = 'moodle';\n$CFG->dbuser = '{}';\n$CFG->dbpass = 'pw-{}';\n$CFG->prefix = '{}';\n"
      "$CFG->dboptions = array('dbpersist' => 0, 'dbport' => '');\n$CFG->wwwroot = '{}';\n$CFG->dataroot = '/var/www/moodledata';\n"
      "$CFG->admin = 'admin';\n$CFG->directorypermissions = 02777;\n{}require_once(__DIR__ . '/lib/setup.php');\n",
      kind == db::Kind::mariadb ? "mariadb" : "pgsql", c.db.user, name, opts.prefix, c.public_url, redis_config);
  ls->site->start_set(ls->blue, c.web_image);
  docker::ExecOptions install;
  install.cmd = {"php", "admin/cli/install_database.php", "--agree-license", "--adminpass=Admin-1234"};
  install.user = "www-data";
  install.workdir = "/var/www/moodle";
  auto r = engine().exec(ls->site->web_container(ls->blue), install);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

  ls->site->proxy()->install({ls->blue, ls->site->web_container(ls->blue), "", port});
  docker::ContainerSpec proxy;
  proxy.name = c.proxy.container;
  bool nginx = opts.proxy == core::ProxyKind::nginx;
  proxy.image = nginx ? "mupgrade/nginx-proxy:1.22" : "mupgrade/haproxy:2.6";
  proxy.labels = {{"mupgrade.site", name}, {"mupgrade.role", "proxy"}};
  proxy.network = c.network;
  proxy.mounts = {{c.proxy.config_dir, nginx ? "/etc/nginx/mupgrade" : "/usr/local/etc/haproxy", false}};
  proxy.ports = {{80, port, "127.0.0.1"}};  // fixed, as a site's is: a restarted proxy keeps its URL
  engine().create_container(proxy);
  engine().start_container(proxy.name);
  c.proxy.url = "http://127.0.0.1:" + std::to_string(engine().inspect_container(proxy.name)->host_ports.at(80));
  ls->site = std::make_unique<ops::Site>(c, host_ports());
  proxy::confirm_backend(ls->site->proxy_site(), ls->blue);

  // The same config as a file, for the binary.
  ls->config_file = c.state_dir + "/site.yml";
  std::ofstream(ls->config_file) << fmt::format(
      "site: {}\npublic_url: {}\npool: {}\nstate_dir: {}\nnetwork: {}\ndb:\n  kind: {}\n  password_file: {}\n"
      "web:\n  port: {}\nproxy:\n  container: {}\n  config_dir: {}\n  url: {}\n{}target:\n  code: {}\nupgrade:\n  cron_drain_timeout_s: 10\n",
      name, c.public_url, c.pool, c.state_dir, c.network, core::to_string(c.db.kind), c.db.password_file, port, c.proxy.container,
      c.proxy.config_dir, c.proxy.url, nginx ? "  kind: nginx\n" : "", c.target_code) << (opts.redis ? "cache:\n  kind: redis\n" : "") << extra_yaml;
  std::ostringstream out;
  EXPECT_EQ(ops::adopt(*ls->site, ls->blue, out), 0) << out.str();
  return ls;
}


int run_binary(const std::string& args, std::string* out) { return sh(std::string(MUPGRADE_BINARY) + " " + args, out); }

}  // namespace mupgrade::itest
