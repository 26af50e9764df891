#include "mupgrade/core/site_files.hpp"

#include "mupgrade/core/set_layout.hpp"

#include <fmt/format.h>

namespace mupgrade::core {

std::string php_quote(const std::string& s) {
  std::string out = "'";
  for (char ch : s) {
    if (ch == '\'' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "'";
}

namespace {

// Sessions in the set's own Redis (config `cache`), as config-dist.php shows: a cutover's green
// gets a snapshot of it, so users stay logged in; each set's Redis is its own.
std::string redis_sessions_php() {
  return fmt::format(
      "$CFG->session_handler_class = '\\core\\session\\redis';  // the set's own Redis (site config 'cache')\n"
      "$CFG->session_redis_host = '{}';  // its alias on the set's network\n"
      "$CFG->session_redis_port = 6379;\n"
      "$CFG->session_redis_prefix = 'sess_';\n",
      kCacheAlias);
}

}  // namespace

std::string render_config_php(const SiteConfig& cfg, const std::string& db_password) {
  const char* dbtype = cfg.db.kind == DbKind::mariadb ? "mariadb" : "pgsql";
  return fmt::format(
      "<?php  // Written by mupgrade init: every set of this site carries this file.\n"
      "unset($CFG);\n"
      "global $CFG;\n"
      "$CFG = new stdClass();\n"
      "$CFG->dbtype    = '{}';\n"
      "$CFG->dblibrary = 'native';\n"
      "$CFG->dbhost    = 'db';  // the DB's alias on the set's own network\n"
      "$CFG->dbname    = {};\n"
      "$CFG->dbuser    = {};\n"
      "$CFG->dbpass    = {};\n"
      "$CFG->prefix    = {};\n"
      "$CFG->dboptions = array('dbpersist' => 0, 'dbport' => '');\n"
      "$CFG->wwwroot   = {};\n"
      "$CFG->dataroot  = {};\n"
      "$CFG->admin     = 'admin';\n"
      "$CFG->directorypermissions = 02777;\n"
      "{}"
      "require_once(__DIR__ . '/lib/setup.php');\n",
      dbtype, php_quote(cfg.db.name), php_quote(cfg.db.user), php_quote(db_password), php_quote(cfg.db.prefix),
      php_quote(cfg.public_url), php_quote(kContainerMoodledata), cfg.cache.enabled() ? redis_sessions_php() : "");
}

std::string render_site_yaml(const SiteConfig& c, std::string_view written_by) {
  std::string y = fmt::format(
      "# mupgrade site config, written by 'mupgrade {}' (README.md, \"Site config\").\n"
      "site: {}                              # names containers: letters, digits, - and _\n"
      "public_url: {}   # Moodle's wwwroot\n"
      "pool: {}           # btrfs; sets live in <pool>/sets/<id>/{{db,moodledata,code}}\n"
      "state_dir: {}       # journal, lock, site.json\n"
      "network: {}                  # the proxy's network\n"
      "db:\n"
      "  kind: {}                         # mariadb or postgresql\n"
      "  image: {}\n"
      "  name: {}\n"
      "  user: {}\n"
      "  prefix: {}                       # Moodle's $CFG->prefix\n"
      "  password_file: {}   # 0600; never the password itself\n"
      "web:\n"
      "  image: {}\n"
      "  port: {}                           # the port the web container listens on (= the public port)\n"
      "proxy:\n"
      "  kind: {}                         # haproxy or nginx\n"
      "  container: {}\n"
      "  config_dir: {}\n"
      "  url: {}           # loopback URL that reaches the proxy\n"
      "  image: {}\n",
      written_by, c.site, c.public_url, c.pool, c.state_dir, c.network, to_string(c.db.kind), c.db.image, c.db.name, c.db.user, c.db.prefix,
      c.db.password_file, c.web_image, c.web_port, to_string(c.proxy.kind), c.proxy.container, c.proxy.config_dir, c.proxy.url, c.proxy.image);
  if (c.cache.enabled())
    y += fmt::format(
        "cache:                                # a Redis per set: Moodle's sessions (config.php), snapshotted with the set\n"
        "  kind: {}\n"
        "  image: {}\n",
        c.cache.kind, c.cache.image);
  y +=
      "# The release to upgrade to: one of code, git, or an image. Set it, then run\n"
      "# 'mupgrade plan', 'mupgrade rehearse' and 'mupgrade cutover'.\n"
      "# target:\n"
      "#   code: /srv/moodle-releases/4.5.6     # a code tree (a subvolume is snapshotted; else cp --reflink=auto)\n"
      "#   git: {repo: /srv/moodle.git, ref: v4.5.6}   # or a ref of a local clone (mupgrade does not fetch)\n"
      "#   image: " + c.web_image + "         # its web image (default web.image)\n"
      "upgrade:\n"
      "  timeout_s: 3600\n"
      "  cron_drain_timeout_s: 120\n"
      "retention:\n"
      "  keep_sets: 3                          # live and rollback target count; they are never removed\n"
      "  keep_clones: 1\n"
      "  min_free_gb: 2\n";
  return y;
}

int port_of_url(const std::string& url) {
  std::string host = host_of_url(url);
  if (host.empty()) return 0;
  auto colon = host.rfind(':');
  if (colon == std::string::npos || host.find(']') != std::string::npos) return url.rfind("https://", 0) == 0 ? 443 : 80;
  std::string digits = host.substr(colon + 1);
  if (digits.empty() || digits.size() > 5 || digits.find_first_not_of("0123456789") != std::string::npos) return 0;
  int port = std::stoi(digits);
  return port >= 1 && port <= 65535 ? port : 0;
}

}  // namespace mupgrade::core
