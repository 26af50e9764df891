// Bad inputs through the binary (issue 9): a table of bad config, bad flags and a broken
// environment, run against ONE real site (stand-in Moodle 4.4.1 on MariaDB behind HAProxy,
// adopted, no cutover yet). README's promise for each: exactly one `mupgrade: error:` line
// on stderr naming the problem, at most one `mupgrade: hint:` line after it, the documented
// exit code (2 bad arguments or config, 1 environment, 3 a held lock), and NOTHING changed:
// the site's containers and networks, every subvolume and dir under its pool, every file of
// its state dir (journal, site.json, lock, proxy config), the proxy's backend as seen through
// the public URL, and the (empty) dir the binary runs in.

#include "fixtures.hpp"
#include "site_fixture.hpp"

#include "mupgrade/btrfs/btrfs.hpp"
#include "mupgrade/core/set_layout.hpp"
#include "mupgrade/core/site_lock.hpp"
#include "mupgrade/http/http_client.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <thread>

using namespace mupgrade;
using namespace mupgrade::itest;
namespace fs = std::filesystem;

namespace {

// What a row may need to name: the site's paths and objects, made once.
struct Ctx {
  std::string cfg;          // the site's own config file (in its state dir)
  std::string site, pool, state, blue, network, proxy, db, web;
  std::string r415, r441, r443;  // release trees under <pool>/releases
  std::string scratch;      // configs of the rows, a non-Moodle dir, a bad playbooks dir
  std::string not_moodle;   // a plain dir on /tmp (not btrfs, no version.php)
  std::string bad_playbooks;
  std::string cwd;          // the empty dir every command runs in
};

// The environment a row breaks, restored after the row whatever happens.
enum class Env {
  none,
  empty_password,   // the DB password file emptied
  no_password,      // the DB password file removed
  stop_proxy,       // the proxy container stopped
  stop_db,          // the live set's DB container stopped
  stop_web,         // the live set's web container stopped
  hold_lock,        // another process holds the site lock
  corrupt_state,    // site.json is not JSON
  no_state,         // site.json removed (the site looks not adopted)
};

struct Row {
  std::string name;
  std::string args;   // placeholders: {cfg} (the row's config), {pool} {state} {blue} {site} {proxy} {db} {web}
                      // {r415} {r441} {r443} {not_moodle} {scratch} {network} {bad_playbooks}
  int exit;
  std::string says;   // a piece of the error line that names the problem
  std::function<void(std::string& yaml, const Ctx&)> yaml = nullptr;  // edits a copy of the site's config
  Env env = Env::none;
  std::string pending;  // a known bug whose fix is outside this change: what the fix needs
};

// ---- YAML edits on the config make_site writes (one key per line, two-space nesting).

std::string::size_type line_at(const std::string& y, const std::string& prefix) {
  if (y.rfind(prefix, 0) == 0) return 0;
  auto at = y.find("\n" + prefix);
  if (at == std::string::npos) throw std::logic_error("no line starts with '" + prefix + "' in:\n" + y);
  return at + 1;
}
// Replaces the whole line that starts with `prefix` by `line` ("" drops it).
void set_line(std::string& y, const std::string& prefix, const std::string& line) {
  auto at = line_at(y, prefix);
  auto end = y.find('\n', at);
  y.replace(at, end == std::string::npos ? std::string::npos : end - at + 1, line.empty() ? "" : line + "\n");
}
// Adds `line` right below the line that starts with `prefix` (a section header).
void add_below(std::string& y, const std::string& prefix, const std::string& line) {
  auto at = line_at(y, prefix);
  auto end = y.find('\n', at);
  y.insert(end + 1, line + "\n");
}
auto setl(std::string prefix, std::string line) {
  return [=](std::string& y, const Ctx&) { set_line(y, prefix, line); };
}
auto below(std::string prefix, std::string line) {
  return [=](std::string& y, const Ctx&) { add_below(y, prefix, line); };
}
auto append(std::string text) {
  return [=](std::string& y, const Ctx&) { y += text; };
}
auto whole(std::string text) {
  return [=](std::string& y, const Ctx&) { y = text; };
}

std::string expand(std::string s, const Ctx& c, const std::string& cfg) {
  const std::pair<const char*, const std::string*> keys[] = {
      {"{cfg}", &cfg},         {"{pool}", &c.pool},     {"{state}", &c.state},     {"{blue}", &c.blue},
      {"{site}", &c.site},     {"{proxy}", &c.proxy},   {"{db}", &c.db},           {"{web}", &c.web},
      {"{r415}", &c.r415},     {"{r441}", &c.r441},     {"{r443}", &c.r443},       {"{not_moodle}", &c.not_moodle},
      {"{scratch}", &c.scratch}, {"{network}", &c.network}, {"{bad_playbooks}", &c.bad_playbooks}};
  for (const auto& [key, value] : keys)
    for (auto at = s.find(key); at != std::string::npos; at = s.find(key, at + value->size())) s.replace(at, std::strlen(key), *value);
  return s;
}

// ---- The table.

std::vector<Row> table() {
  const std::string cfg = " --config {cfg}";
  const std::string kInit = " --db mariadb --url http://moodle.test:18649 --state-dir {scratch}/init-state --config {scratch}/init.yml";
  return {
      // Command line: parsed before any config is read.
      {"no command", "", 2, "subcommand"},
      {"unknown command", "upgrade" + cfg, 2, "'upgrade' is not a mupgrade command"},
      {"unknown flag", "cutover --bogus" + cfg, 2, "--bogus"},
      {"flag of another command", "status --dry-run" + cfg, 2, "--dry-run"},
      {"--target on rollback", "rollback --target {r443}" + cfg, 2, "--target"},
      {"--config without its value", "plan --config", 2, "--config"},
      {"no site given", "plan", 2, "no site given"},
      {"--config and --site together", "status --site {site}" + cfg, 2, "--config and --site"},
      {"--site names no config", "status --site {site}-missing", 2, "cannot read site config"},
      {"--site is not a site name", "status --site ../../etc/passwd", 2, "--site"},
      {"--config names a missing file", "plan --config {scratch}/missing.yml", 2, "cannot read site config"},
      {"--config names a directory", "plan --config {scratch}", 2, "{scratch}"},
      {"cutover --resume --target", "cutover --resume --target {r443}" + cfg, 2, "--resume"},
      {"cutover --resume --remove-failed-green", "cutover --resume --remove-failed-green" + cfg, 2, "--remove-failed-green"},
      {"cutover --resume --dry-run --target", "cutover --resume --dry-run --target {r443}" + cfg, 2, "--target"},
      {"empty --target", "plan --target ''" + cfg, 2, "--target"},
      {"adopt without --set", "adopt" + cfg, 2, "--set"},
      {"adopt --set is a path", "adopt --set ../../x" + cfg, 2, "--set"},
      {"adopt on an adopted site", "adopt --set {blue}" + cfg, 1, "already has live set"},
      {"rollback before any cutover", "rollback" + cfg, 2, "no rollback target"},
      {"rollback --dry-run before any cutover", "rollback --dry-run --discard-writes" + cfg, 2, "no rollback target"},

      // init: a new site's flags and host, checked before anything is made.
      {"init of an existing site", "init --dry-run --site {site} --code {r441} --db mariadb --url http://moodle.test:18649 --pool {pool} --state-dir {state}",
       2, "exists already"},
      {"init without --code", "init --site {site}-new --db mariadb --url http://moodle.test:18649 --pool {pool}-new", 2, "--code"},
      {"init --code is not Moodle", "init --dry-run --site {site}-new --code {not_moodle} --pool {pool}-new" + kInit, 2, "no version.php"},
      {"init --code does not exist", "init --dry-run --site {site}-new --code {scratch}/nope --pool {pool}-new" + kInit, 2, "not a directory"},
      {"init --pool is not on btrfs", "init --dry-run --site {site}-new --code {r441} --pool {scratch}/newpool" + kInit, 2, "btrfs"},
      {"init --pool holds sets", "init --dry-run --site {site}-new --code {r441} --pool {pool}" + kInit, 2, "already holds sets"},
      {"init --db unknown", "init --dry-run --site {site}-new --code {r441} --db oracle --url http://moodle.test:18649 --pool {pool}-new", 2, "--db"},
      {"init --url is https", "init --dry-run --site {site}-new --code {r441} --db mariadb --url https://moodle.test --pool {pool}-new", 2, "--url"},
      {"init --url has a path", "init --dry-run --site {site}-new --code {r441} --db mariadb --url http://moodle.test/m --pool {pool}-new", 2, "has a path"},
      {"init --site is not a name", "init --dry-run --site a/b --code {r441} --db mariadb --url http://moodle.test:18649 --pool {pool}-new", 2, "--site"},
      {"init --web-image is not on this host", "init --dry-run --site {site}-new --code {r441} --pool {pool}-new --web-image mupgrade/web:no-such-tag" + kInit,
       1, "mupgrade/web:no-such-tag"},
      {"init --admin-password-file missing", "init --site {site}-new --code {r441} --pool {pool}-new --admin-password-file {scratch}/no-pw" + kInit,
       2, "--admin-password-file"},
      {"init without a password and no terminal", "init --site {site}-new --code {r441} --pool {pool}-new" + kInit + " </dev/null", 2,
       "stdin is not a terminal"},

      // Targets: arguments checked by the preflight before anything is made.
      {"downgrade target (cutover)", "cutover --target {r415}" + cfg, 2, "OLDER than the live DB"},
      {"downgrade target (rehearse)", "rehearse --target {r415}" + cfg, 2, "OLDER than the live DB"},
      {"same-version target", "cutover --target {r441}" + cfg, 2, "nothing to upgrade"},
      {"target dir is not Moodle", "cutover --target {not_moodle}" + cfg, 2, "no version.php"},
      {"target dir does not exist", "rehearse --target {scratch}/nope" + cfg, 2, "not a directory"},
      {"relative target dir does not exist", "cutover --target releases/4.4.3" + cfg, 2, "not a directory"},
      {"target is a file", "rehearse --target {cfg}" + cfg, 2, "not a directory"},
      {"downgrade target (plan)", "plan --target {r415}" + cfg, 2, "OLDER than the live DB", nullptr},

      // Config: YAML syntax, keys, types, values.
      {"YAML syntax error", "plan" + cfg, 2, "{cfg}:", append("proxy2: [unclosed\n")},
      {"config is empty", "cutover" + cfg, 2, "mapping", whole("")},
      {"config is a list", "status" + cfg, 2, "mapping", whole("- site: x\n")},
      {"config is a binary file", "status --config /bin/true", 2, "/bin/true"},
      {"unknown top-level key", "status" + cfg, 2, "unknown key 'sitename'", append("sitename: x\n")},
      {"unknown key in db", "cutover" + cfg, 2, "unknown key 'passwd'", below("db:", "  passwd: secret")},
      {"a key given twice", "plan" + cfg, 2, "'pool' is given twice", append("pool: /srv/mupgrade-pool/other\n")},
      {"unknown key in proxy", "rollback" + cfg, 2, "unknown key 'socket'", below("proxy:", "  socket: /x")},
      {"site missing", "status" + cfg, 2, "missing 'site'", setl("site:", "")},
      {"site is empty", "status" + cfg, 2, "'site'", setl("site:", "site: \"\"")},
      {"site has a slash", "prune" + cfg, 2, "'site' may hold only", setl("site:", "site: a/b")},
      {"site is a list", "status" + cfg, 2, "'site' must be a string", setl("site:", "site: [a, b]")},
      {"public_url is not http", "cutover" + cfg, 2, "'public_url' must be", setl("public_url:", "public_url: ftp://moodle.test")},
      {"public_url has no host", "status" + cfg, 2, "'public_url' must be", setl("public_url:", "public_url: http://")},
      {"pool is relative", "cutover" + cfg, 2, "'pool' must be an absolute path", setl("pool:", "pool: srv/pool")},
      {"pool is empty", "status" + cfg, 2, "'pool'", setl("pool:", "pool: \"\"")},
      {"state_dir is relative", "status" + cfg, 2, "'state_dir' must be an absolute path", setl("state_dir:", "state_dir: var/lib/x")},
      {"state_dir is empty", "status" + cfg, 2, "'state_dir'", setl("state_dir:", "state_dir: \"\"")},
      {"network is empty", "cutover" + cfg, 2, "'network'", setl("network:", "network: \"\"")},
      {"db is not a mapping", "cutover" + cfg, 2, "'db' must be a mapping", [](std::string& y, const Ctx&) {
         set_line(y, "  kind:", "");
         set_line(y, "  password_file:", "");
         set_line(y, "db:", "db: mariadb");
       }},
      {"db.kind unknown", "cutover" + cfg, 2, "'kind' must be mariadb or postgresql", setl("  kind:", "  kind: oracle")},
      {"db.kind is not the live DB's engine", "cutover" + cfg, 2, "db.kind is postgresql", setl("  kind:", "  kind: postgresql")},
      {"db.kind is not the live DB's engine (rehearse)", "rehearse" + cfg, 2, "db.kind is postgresql", setl("  kind:", "  kind: postgresql")},
      {"both password_file and password_env", "cutover" + cfg, 2, "exactly one of 'password_file' or 'password_env'",
       below("db:", "  password_env: MUPGRADE_DB_PASSWORD")},
      {"password_file is relative", "cutover" + cfg, 2, "'password_file' must be an absolute path",
       setl("  password_file:", "  password_file: db_password")},
      {"password_file does not exist", "cutover" + cfg, 2, "cannot read the DB password",
       setl("  password_file:", "  password_file: /nonexistent/db_password")},
      {"password_env is not set", "rehearse" + cfg, 2, "MUPGRADE_TEST_UNSET_VAR",
       setl("  password_file:", "  password_env: MUPGRADE_TEST_UNSET_VAR")},
      {"db.relaxed_durability is not a boolean", "cutover" + cfg, 2, "'relaxed_durability' must be true or false",
       below("db:", "  relaxed_durability: maybe")},
      {"db.prefix has a dash", "cutover" + cfg, 2, "'prefix'", below("db:", "  prefix: mdl-")},
      {"web.port is a word", "cutover" + cfg, 2, "'port' must be a whole number", setl("  port:", "  port: http")},
      {"web.port out of range", "cutover" + cfg, 2, "'port' must be between 1 and 65535", setl("  port:", "  port: 70000")},
      {"web is a list", "status" + cfg, 2, "'web' must be a mapping", [](std::string& y, const Ctx&) {
         set_line(y, "  port:", "");
         set_line(y, "web:", "web: [1, 2]");
       }},
      {"proxy.kind unknown", "cutover" + cfg, 2, "'kind' must be haproxy or nginx", below("proxy:", "  kind: traefik")},
      {"proxy.url is not loopback", "cutover" + cfg, 2, "'url' must reach the proxy on loopback",
       setl("  url:", "  url: http://moodle.example.org:80")},
      {"proxy.container missing", "cutover" + cfg, 2, "missing 'container'", setl("  container:", "")},
      {"proxy.config_dir is relative", "cutover" + cfg, 2, "'config_dir' must be an absolute path",
       setl("  config_dir:", "  config_dir: proxy")},
      {"target.code is relative", "cutover" + cfg, 2, "'code' must be an absolute path", setl("  code:", "  code: releases/4.4.3")},
      {"target.code and target.git both", "cutover" + cfg, 2, "one release source",
       below("target:", "  git: {repo: /srv/moodle.git, ref: v4.5.1}")},
      {"target.git.ref is an option", "plan" + cfg, 2, "'ref' must name", [](std::string& y, const Ctx&) {
         set_line(y, "  code:", "  git: {repo: /srv/moodle.git, ref: --upload-pack=x}");
       }},
      {"target.git.repo is not a git repository", "cutover" + cfg, 2, "names no commit", [](std::string& y, const Ctx& c) {
         set_line(y, "  code:", "  git: {repo: " + c.not_moodle + ", ref: v4.5.1}");
       }},
      {"target.image_code beside target.code", "cutover" + cfg, 2, "'image_code' applies only", below("target:", "  image_code: /var/www/moodle")},
      {"target.image is not on this host", "cutover" + cfg, 1, "mupgrade/web:no-such-tag", below("target:", "  image: mupgrade/web:no-such-tag")},
      {"target.image as the code source is not on this host", "rehearse" + cfg, 1, "mupgrade/web:no-such-tag",
       [](std::string& y, const Ctx&) { set_line(y, "  code:", "  image: mupgrade/web:no-such-tag"); }},
      {"web.image is not on this host", "cutover" + cfg, 1, "mupgrade/web:no-such-tag", below("web:", "  image: mupgrade/web:no-such-tag")},
      {"upgrade.timeout_s below its minimum", "cutover" + cfg, 2, "'timeout_s' must be between", below("upgrade:", "  timeout_s: 5")},
      {"upgrade.timeout_s is a word", "cutover" + cfg, 2, "'timeout_s' must be a whole number", below("upgrade:", "  timeout_s: an hour")},
      {"retention.keep_sets below 2", "prune" + cfg, 2, "'keep_sets' must be between", append("retention:\n  keep_sets: 1\n")},
      {"retention.min_free_gb negative", "prune --dry-run" + cfg, 2, "'min_free_gb' must be between", append("retention:\n  min_free_gb: -1\n")},
      {"settings is a list", "cutover" + cfg, 2, "'settings' must be a mapping", append("settings: [a, b]\n")},
      {"a setting's value is a list", "cutover" + cfg, 2, "each setting must be name: value", append("settings:\n  theme: [boost, classic]\n")},
      {"rehearse.prometheus_textfile is relative", "rehearse" + cfg, 2, "'prometheus_textfile' must be an absolute path",
       append("rehearse:\n  prometheus_textfile: metrics/mupgrade.prom\n")},
      {"rehearse.smoke_paths is relative", "rehearse" + cfg, 2, "each smoke path starts with '/'", append("rehearse:\n  smoke_paths: [login/index.php]\n")},
      {"rehearse.smoke_paths has an empty path", "rehearse" + cfg, 2, "each smoke path starts with '/'", append("rehearse:\n  smoke_paths: [\"\"]\n")},
      {"playbooks_dir does not exist", "cutover" + cfg, 2, "cannot read playbook", append("playbooks_dir: /nonexistent/playbooks\n")},
      {"playbooks_dir is relative", "cutover" + cfg, 2, "'playbooks_dir' must be an absolute path", append("playbooks_dir: playbooks\n")},
      {"playbook leaves out upgrade", "cutover" + cfg, 2, "must keep step 'upgrade'", append("playbooks_dir: {bad_playbooks}\n")},
      {"site step host program does not exist", "cutover" + cfg, 2, "/nonexistent/install-plugins",
       append("steps:\n  - name: plugins\n    after: prepare-code\n    host: [/nonexistent/install-plugins]\n")},
      {"site step host program does not exist (rehearse)", "rehearse" + cfg, 2, "/nonexistent/install-plugins",
       append("steps:\n  - name: plugins\n    after: prepare-code\n    host: [/nonexistent/install-plugins]\n")},
      {"site step host program is relative", "cutover" + cfg, 2, "absolute path",
       append("steps:\n  - name: plugins\n    after: prepare-code\n    host: [install-plugins]\n")},
      {"site step host program is empty", "cutover" + cfg, 2, "'host' names no program",
       append("steps:\n  - name: plugins\n    after: prepare-code\n    host: [\"\"]\n")},
      {"site step anchored at an unknown step", "cutover" + cfg, 2, "anchored at 'warm-up'",
       append("steps:\n  - name: theme\n    before: warm-up\n    exec: [php, admin/cli/build_theme_css.php]\n")},
      {"site step anchored at an unknown step (plan)", "plan" + cfg, 2, "anchored at 'warm-up'",
       append("steps:\n  - name: theme\n    before: warm-up\n    exec: [php, admin/cli/build_theme_css.php]\n")},
      {"site step with before and after", "cutover" + cfg, 2, "exactly one of 'before' or 'after'",
       append("steps:\n  - name: theme\n    before: upgrade\n    after: upgrade\n    exec: [php, x.php]\n")},
      {"site step named like a built-in step", "cutover" + cfg, 2, "has the name of another step",
       append("steps:\n  - name: upgrade\n    after: purge-caches\n    cfg: {theme: boost}\n")},
      {"site step for an unknown operation", "cutover" + cfg, 2, "an operation is cutover or rehearse",
       append("steps:\n  - name: theme\n    after: upgrade\n    operations: [rollback]\n    cfg: {theme: boost}\n")},
      {"site step operation is a mapping", "cutover" + cfg, 2, "operation",
       append("steps:\n  - name: theme\n    after: upgrade\n    operations: [{cutover: yes}]\n    cfg: {theme: boost}\n")},
      {"site step cfg value is a list", "cutover" + cfg, 2, "cfg",
       append("steps:\n  - name: theme\n    after: upgrade\n    cfg: {theme: [boost]}\n")},
      {"site step exec argument is a mapping", "cutover" + cfg, 2, "exec",
       append("steps:\n  - name: theme\n    after: upgrade\n    exec: [php, {a: b}]\n")},

      // Environment: the host or the site is not as the config says.
      {"DB password file emptied", "cutover" + cfg, 2, "cannot read the DB password", nullptr, Env::empty_password},
      {"DB password file removed", "rehearse" + cfg, 2, "cannot read the DB password", nullptr, Env::no_password},
      {"proxy container stopped", "cutover" + cfg, 1, "proxy", nullptr, Env::stop_proxy},
      {"proxy container stopped (plan)", "plan" + cfg, 1, "proxy", nullptr, Env::stop_proxy},
      {"live DB container stopped", "cutover" + cfg, 1, "not running", nullptr, Env::stop_db},
      {"live DB container stopped (rehearse)", "rehearse" + cfg, 1, "not running", nullptr, Env::stop_db},
      {"live web container stopped", "cutover" + cfg, 1, "{blue}", nullptr, Env::stop_web},
      {"proxy.container names no container", "cutover" + cfg, 1, "proxy", setl("  container:", "  container: {site}-no-such-proxy")},
      {"network does not exist", "cutover" + cfg, 1, "{site}-no-such-net", setl("network:", "network: {site}-no-such-net")},
      {"proxy.kind is not the running proxy's", "cutover" + cfg, 1, "nginx", below("proxy:", "  kind: nginx")},
      {"proxy.url reaches no proxy", "cutover" + cfg, 1, "http://127.0.0.1:1", setl("  url:", "  url: http://127.0.0.1:1")},
      {"public_url is not the site's wwwroot", "cutover" + cfg, 1, "moodle.example.org",
       setl("public_url:", "public_url: http://moodle.example.org:18300")},
      {"proxy.kind is not the running proxy's (status)", "status" + cfg, 1, "nginx", below("proxy:", "  kind: nginx")},
      {"pool does not exist (prune)", "prune --dry-run" + cfg, 2, "not a directory on btrfs", setl("pool:", "pool: {pool}-missing")},
      {"pool does not exist", "cutover" + cfg, 2, "not a directory on btrfs", setl("pool:", "pool: {pool}-missing")},
      {"pool is not on btrfs", "cutover" + cfg, 2, "not a directory on btrfs", setl("pool:", "pool: {not_moodle}")},
      {"pool is not on btrfs (prune)", "prune" + cfg, 2, "not a directory on btrfs", setl("pool:", "pool: {not_moodle}")},
      {"db.name names no database", "cutover" + cfg, 1, "nomoodle", below("db:", "  name: nomoodle")},
      {"Docker socket missing", "status --docker-socket {scratch}/docker.sock" + cfg, 1, "docker.sock"},
      {"site.json is not JSON", "status" + cfg, 1, "site.json", nullptr, Env::corrupt_state},
      {"site not adopted yet", "cutover" + cfg, 1, "site.json", nullptr, Env::no_state},
      {"lock held (cutover)", "cutover" + cfg, 3, "is busy", nullptr, Env::hold_lock},
      {"lock held (cutover --resume)", "cutover --resume" + cfg, 3, "is busy", nullptr, Env::hold_lock},
      {"lock held (rehearse)", "rehearse" + cfg, 3, "is busy", nullptr, Env::hold_lock},
      {"lock held (prune)", "prune" + cfg, 3, "is busy", nullptr, Env::hold_lock},

      // doctor and proxy init.
      {"doctor: pool is not btrfs", "doctor --pool {not_moodle}", 1, "btrfs"},
      {"doctor: pool does not exist", "doctor --pool {scratch}/nope", 1, "does not exist"},
      {"doctor: Docker socket missing", "doctor --pool {pool} --docker-socket {scratch}/docker.sock", 1, "docker"},
      {"doctor: DB container stopped", "doctor --pool {pool} --db-container {db}", 1, "{db}", nullptr, Env::stop_db},
      {"doctor: proxy container missing", "doctor --pool {pool} --proxy-container {site}-no-such-proxy", 1, "{site}-no-such-proxy"},
      {"doctor: --public-host without --public-url", "doctor --pool {pool} --public-host moodle.test", 2, "--public-url"},
      {"proxy init: unknown kind", "proxy init --kind traefik --config-dir . --backend-name b --backend-host h", 2, "traefik"},
      {"proxy init: config dir missing", "proxy init --config-dir {scratch}/nope --backend-name b --backend-host h", 2, "--config-dir"},
      {"proxy init: port out of range", "proxy init --config-dir . --backend-name b --backend-host h --backend-port 70000", 2, "--backend-port"},
      {"proxy init: empty backend name", "proxy init --config-dir . --backend-name '' --backend-host h", 2, "--backend-name"},
      {"proxy init: the site's proxy is set up already", "proxy init --config-dir {state}/proxy --backend-name b --backend-host h", 2,
       "already holds"},
  };
}

// ---- What must not change.

using Snapshot = std::map<std::string, std::string>;

std::string file_kind(const fs::directory_entry& e) {
  std::error_code ec;
  auto st = e.symlink_status(ec);
  if (fs::is_symlink(st)) return "symlink -> " + fs::read_symlink(e.path(), ec).string();
  if (fs::is_directory(st)) return btrfs::is_subvolume(e.path().string()) ? "subvolume" : "dir";
  if (fs::is_regular_file(st)) return "file";
  if (fs::is_socket(st)) return "socket";
  return "other";
}

// Every entry under `root` as "<area> <relative path>" -> kind (+ contents for the state dir).
// A set's db and moodledata are listed, not entered: their servers write inside them.
void list_tree(Snapshot& snap, const std::string& area, const std::string& root, bool contents) {
  static const std::regex data_dir(R"((sets|clones)/[^/]+/(db|moodledata|verify-moodledata))");
  std::error_code ec;
  if (!fs::exists(root, ec)) {
    snap[area] = "absent";
    return;
  }
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::none, ec); it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (ec) break;
    std::string rel = fs::relative(it->path(), root, ec).string();
    std::string kind = file_kind(*it);
    if (contents && kind == "file") kind += ": " + read_file(it->path().string());
    snap[area + " " + rel] = kind;
    if (std::regex_match(rel, data_dir)) it.disable_recursion_pending();
  }
  if (ec) snap[area + " (listing failed)"] = ec.message();
}

std::string proxy_backend(const std::string& proxy_url, const std::string& host) {
  // A stopped backend makes HAProxy wait for its connect timeout: "no answer" after 3 s.
  auto r = http::get(proxy_url + "/login/index.php", host, std::chrono::milliseconds(3000));
  if (r.status == 0) return "no answer";
  return fmt::format("HTTP {} from '{}'", r.status, r.headers.count("x-mupgrade-set") ? r.headers.at("x-mupgrade-set") : "");
}

Snapshot take(const Ctx& c, const std::string& proxy_url, const std::string& public_host) {
  Snapshot s;
  for (const auto& info : engine().list_containers({{"mupgrade.site", c.site}}, true))
    s["container " + info.name] = info.running ? "running" : info.status;
  for (const auto& n : engine().list_networks({{"mupgrade.site", c.site}})) s["network " + n.name] = "present";
  list_tree(s, "pool", c.pool, false);
  for (const auto& e : fs::directory_iterator(c.pool + "/sets"))
    s["maintenance " + e.path().filename().string()] = fs::exists(e.path() / "moodledata" / core::kMaintenanceFile) ? "on" : "off";
  list_tree(s, "state", c.state, true);
  list_tree(s, "cwd", c.cwd, true);
  s["proxy"] = proxy_backend(proxy_url, public_host);
  return s;
}

std::string diff(const Snapshot& before, const Snapshot& after) {
  std::string out;
  for (const auto& [k, v] : before) {
    auto it = after.find(k);
    if (it == after.end()) out += fmt::format("  gone:    {} ({})\n", k, v.substr(0, 200));
    else if (it->second != v) out += fmt::format("  changed: {}: '{}' -> '{}'\n", k, v.substr(0, 200), it->second.substr(0, 200));
  }
  for (const auto& [k, v] : after)
    if (!before.count(k)) out += fmt::format("  new:     {} ({})\n", k, v.substr(0, 200));
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// The README's promise for one row; "" when kept.
std::string check_promise(const Row& row, const std::string& says, int rc, const std::string& out, const std::string& err) {
  std::string p;
  if (rc != row.exit) p += fmt::format("exit {}, not {}\n", rc, row.exit);
  std::vector<std::string> err_lines = lines_of(err);
  int errors = 0, hints = 0, others = 0;
  for (const auto& l : err_lines) {
    if (l.rfind("mupgrade: error: ", 0) == 0) ++errors;
    else if (l.rfind("mupgrade: hint: ", 0) == 0) ++hints;
    else ++others;
  }
  if (errors != 1) p += fmt::format("{} 'mupgrade: error:' lines on stderr, not one\n", errors);
  if (hints > 1) p += fmt::format("{} 'mupgrade: hint:' lines on stderr\n", hints);
  if (others > 0) p += fmt::format("{} other lines on stderr besides the error and its hint\n", others);
  if (!err_lines.empty() && err_lines[0].rfind("mupgrade: error: ", 0) != 0) p += "stderr does not start with the error line\n";
  if (errors == 1 && !err_lines.empty() && err_lines[0].find(says) == std::string::npos)
    p += fmt::format("the error line does not name the problem ('{}')\n", says);
  if (hints == 1 && (err_lines.size() < 2 || err_lines[1].rfind("mupgrade: hint: ", 0) != 0)) p += "the hint line does not follow the error line\n";
  if (out.find("mupgrade: error:") != std::string::npos) p += "an error line on stdout\n";
  return p;
}

}  // namespace

class BadInputsTest : public ::testing::Test {
protected:
  SiteCleanup cleanup_;
  std::unique_ptr<LifecycleSite> ls_;
  Ctx c_;

  // The proxy's published port changes when its container restarts: the site's config
  // file follows it (the rows read the file when they run).
  void follow_proxy_port() {
    int port = engine().inspect_container(c_.proxy)->host_ports.at(80);
    std::string url = "http://127.0.0.1:" + std::to_string(port);
    std::string y = read_file(c_.cfg);
    set_line(y, "  url:", "  url: " + url);
    std::ofstream(c_.cfg) << y;
    ls_->cfg.proxy.url = url;
  }

  void wait_until(const std::function<bool()>& ok, const std::string& what) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    while (!ok()) {
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("timed out waiting for " + what);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  bool serves_blue() { return proxy_backend(ls_->cfg.proxy.url, ls_->cfg.public_host) == fmt::format("HTTP 200 from '{}'", c_.blue); }

  void start_if_stopped(const std::string& container) {
    auto info = engine().inspect_container(container);
    if (info && !info->running) engine().start_container(container);
  }

  // Breaks the environment; returns what puts it back (run whatever happens to the row).
  std::function<void()> apply(Env env) {
    std::string pw_file = c_.state + "/db_password";
    std::string state_file = c_.state + "/site.json";
    switch (env) {
      case Env::none: return [] {};
      case Env::empty_password:
      case Env::no_password: {
        std::string saved = read_file(pw_file);
        if (env == Env::empty_password) std::ofstream(pw_file, std::ios::trunc).close();
        else fs::remove(pw_file);
        return [=] { std::ofstream(pw_file, std::ios::trunc) << saved; };
      }
      case Env::corrupt_state:
      case Env::no_state: {
        std::string saved = read_file(state_file);
        if (env == Env::corrupt_state) std::ofstream(state_file, std::ios::trunc) << "{\"live_set\": ";
        else fs::remove(state_file);
        return [=] { std::ofstream(state_file, std::ios::trunc) << saved; };
      }
      case Env::stop_proxy:
        engine().stop_container(c_.proxy, std::chrono::seconds(5));
        return [this] {
          start_if_stopped(c_.proxy);
          follow_proxy_port();
          wait_until([this] { return serves_blue(); }, "the proxy to serve blue again");
        };
      case Env::stop_db:
        engine().stop_container(c_.db, std::chrono::seconds(20));
        return [this] {
          start_if_stopped(c_.db);
          db::connect_when_ready(ls_->site->db_endpoint(c_.blue), std::chrono::seconds(90));
        };
      case Env::stop_web:
        engine().stop_container(c_.web, std::chrono::seconds(5));
        return [this] {
          start_if_stopped(c_.web);
          wait_until([this] { return serves_blue(); }, "blue's web container to answer again");
        };
      case Env::hold_lock: {
        auto lock = std::make_shared<core::SiteLock>(c_.state + "/lock", c_.site, "mupgrade rehearse (held by the bad-inputs test)");
        return [lock]() mutable { lock.reset(); };
      }
    }
    return [] {};
  }

  // Puts back what a row changed, as far as it can, so that one broken promise does not
  // break the rows after it: the containers, networks, pool entries and state files it made
  // or changed, blue's maintenance file and cron. Returns what it could not put back.
  std::string repair(const Snapshot& baseline) {
    Snapshot now = take(c_, ls_->cfg.proxy.url, ls_->cfg.public_host);
    std::string mine = "mupgrade-" + c_.site + "-";
    std::vector<std::string> removed;  // pool dirs removed with everything under them
    for (const auto& [key, value] : now) {
      if (baseline.count(key)) continue;
      auto space = key.find(' ');
      std::string area = key.substr(0, space), what = key.substr(space + 1);
      try {
        if (area == "container" && what.rfind(mine, 0) == 0) engine().remove_container(what, true);
        if (area == "network" && what.rfind(mine, 0) == 0) engine().remove_network(what);
        if (area == "pool") {
          bool under_removed = false;
          for (const auto& r : removed) under_removed = under_removed || what.rfind(r + "/", 0) == 0;
          if (under_removed) continue;
          std::string path = c_.pool + "/" + what;
          std::string out;
          if (sh("find '" + path + "' -inum 256 -type d | sort -r | xargs -r btrfs subvolume delete; rm -rf -- '" + path + "'", &out) != 0)
            ADD_FAILURE() << "repair: could not remove " << path << ": " << out;
          removed.push_back(what);
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << "repair: " << key << ": " << e.what();
      }
    }
    // Files of the state dir and the cwd: new ones removed (deepest first), changed ones
    // rewritten as they were.
    for (auto it = now.rbegin(); it != now.rend(); ++it) {
      std::string path;
      if (it->first.rfind("state ", 0) == 0) path = c_.state + "/" + it->first.substr(6);
      else if (it->first.rfind("cwd ", 0) == 0) path = c_.cwd + "/" + it->first.substr(4);
      else continue;
      auto was = baseline.find(it->first);
      std::error_code ec;
      if (was == baseline.end()) fs::remove_all(path, ec);
      else if (was->second != it->second && was->second.rfind("file: ", 0) == 0)
        std::ofstream(path, std::ios::trunc) << was->second.substr(6);
    }
    if (now.count("maintenance " + c_.blue) && now["maintenance " + c_.blue] != baseline.at("maintenance " + c_.blue))
      ls_->site->maintenance_file(c_.blue, false);
    try {
      ls_->site->cli(c_.blue).cron_enable();  // a failed drain-cron may have left it off
    } catch (const std::exception& e) {
      ADD_FAILURE() << "repair: cron on blue: " << e.what();
    }
    return diff(baseline, take(c_, ls_->cfg.proxy.url, ls_->cfg.public_host));
  }

  // Runs the binary in the empty cwd; stdout and stderr apart.
  int run(const std::string& args, std::string& out, std::string& err) {
    std::string err_file = c_.scratch + "/stderr";
    int rc = sh(fmt::format("(cd '{}' && exec {} {} 2>'{}')", c_.cwd, MUPGRADE_BINARY, args, err_file), &out);
    err = read_file(err_file);
    return rc;
  }
};

TEST_F(BadInputsTest, EveryBadInputGetsOneErrorLineItsExitCodeAndChangesNothing) {
  auto started = std::chrono::steady_clock::now();
  ls_ = make_site(cleanup_, db::Kind::mariadb, 18300);
  c_.cfg = ls_->config_file;
  c_.site = ls_->cfg.site;
  c_.pool = ls_->cfg.pool;
  c_.state = ls_->cfg.state_dir;
  c_.blue = ls_->blue;
  c_.network = ls_->cfg.network;
  c_.proxy = ls_->cfg.proxy.container;
  c_.db = ls_->site->db_container(c_.blue);
  c_.web = ls_->site->web_container(c_.blue);
  c_.r415 = ls_->release("4.1.5");
  c_.r441 = ls_->release("4.4.1");
  c_.r443 = ls_->release("4.4.3");
  c_.scratch = scratch_dir() + "/" + unique_name("bad");
  c_.not_moodle = c_.scratch + "/not-moodle";
  c_.bad_playbooks = c_.scratch + "/playbooks";
  c_.cwd = c_.scratch + "/cwd";
  fs::create_directories(c_.not_moodle);
  std::ofstream(c_.not_moodle + "/README") << "not a Moodle tree\n";
  fs::create_directories(c_.bad_playbooks);
  fs::create_directories(c_.cwd);
  for (const char* op : {"rehearse", "rollback"})
    fs::copy_file(fmt::format("{}/playbooks/{}.yml", MUPGRADE_SOURCE_DIR, op), fmt::format("{}/{}.yml", c_.bad_playbooks, op));
  {
    std::string pb = read_file(fmt::format("{}/playbooks/cutover.yml", MUPGRADE_SOURCE_DIR));
    auto at = pb.find("  - upgrade ");
    ASSERT_NE(at, std::string::npos) << pb;
    std::ofstream(c_.bad_playbooks + "/cutover.yml") << pb.erase(at, pb.find('\n', at) - at + 1);
  }
  ASSERT_TRUE(serves_blue()) << proxy_backend(ls_->cfg.proxy.url, ls_->cfg.public_host);
  std::string out, err;
  ASSERT_EQ(run("plan --config " + c_.cfg, out, err), 0) << out << err << "\nthe site must be ready before its bad inputs";

  auto rows = table();
  EXPECT_GE(rows.size(), 60u);
  std::vector<std::string> failed;
  Snapshot baseline = take(c_, ls_->cfg.proxy.url, ls_->cfg.public_host);
  // MUPGRADE_BAD_INPUTS_ONLY=<part of a row's name> runs only the rows it names (debugging).
  const char* only = std::getenv("MUPGRADE_BAD_INPUTS_ONLY");
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& row = rows[i];
    if (only && *only && row.name.find(only) == std::string::npos) continue;
    SCOPED_TRACE(fmt::format("row {} '{}'", i + 1, row.name));
    auto row_started = std::chrono::steady_clock::now();
    out.clear();
    err.clear();

    std::string cfg = c_.cfg;
    if (row.yaml) {
      std::string y = read_file(c_.cfg);
      row.yaml(y, c_);
      cfg = fmt::format("{}/row{:03}.yml", c_.scratch, i + 1);
      std::ofstream(cfg) << expand(y, c_, cfg);
    }
    std::string args = expand(row.args, c_, cfg);
    std::string says = expand(row.says, c_, cfg);
    std::string problems;
    {
      std::function<void()> restore;
      try {
        restore = apply(row.env);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "could not break the environment: " << e.what();
      }
      // Put the environment back whatever happens below (a failed assertion, an exception).
      struct Guard {
        std::function<void()>& fn;
        ~Guard() {
          try {
            if (fn) fn();
          } catch (const std::exception& e) {
            ADD_FAILURE() << "could not restore the environment: " << e.what();
          }
        }
      } guard{restore};

      Snapshot before = take(c_, ls_->cfg.proxy.url, ls_->cfg.public_host);
      int rc = run(args, out, err);
      Snapshot after = take(c_, ls_->cfg.proxy.url, ls_->cfg.public_host);
      problems = check_promise(row, says, rc, out, err);
      if (std::string changed = diff(before, after); !changed.empty()) problems += "changed something:\n" + changed;
      if (!problems.empty()) problems += fmt::format("--- mupgrade {}\n--- exit {}; stdout:\n{}--- stderr:\n{}", args, rc, out, err);
    }
    // The environment is back as it was before the row (the proxy may publish another port).
    Snapshot now = take(c_, ls_->cfg.proxy.url, ls_->cfg.public_host);
    baseline["state site.yml"] = now["state site.yml"];
    if (std::string left = diff(baseline, now); !left.empty()) {
      if (problems.empty()) ADD_FAILURE() << "the environment was not restored after the row:\n" << left;
      std::string unrepaired = repair(baseline);
      if (!unrepaired.empty()) {
        if (!problems.empty()) ADD_FAILURE() << problems;
        ADD_FAILURE() << "row " << i + 1 << " '" << row.name << "' left the site changed and the test cannot put it back; "
                      << "the rows after it would not be run on the same site:\n" << unrepaired;
        failed.push_back(row.name);
        break;
      }
    }
    baseline = take(c_, ls_->cfg.proxy.url, ls_->cfg.public_host);
    const char* verdict = " ok ";
    if (!row.pending.empty()) {
      verdict = problems.empty() ? "PASS" : "KNOWN";
      // A known bug that needs a fix outside this change: reported, not failed; once fixed,
      // the row must lose its note.
      EXPECT_FALSE(problems.empty()) << "the row keeps the promise now: remove its pending note (" << row.pending << ")";
      if (!problems.empty()) std::printf("known bug, %s:\n%s\n", row.pending.c_str(), problems.c_str());
    } else if (!problems.empty()) {
      verdict = "FAIL";
      ADD_FAILURE() << problems;
      failed.push_back(row.name);
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - row_started).count();
    std::printf("[%s] %3zu %-58s exit %d  %.1f s\n        %s\n", verdict, i + 1, row.name.c_str(), row.exit, secs,
                err.substr(0, err.find('\n')).c_str());
  }
  std::string list;
  for (const auto& f : failed) list += "\n  " + f;
  EXPECT_TRUE(failed.empty()) << failed.size() << " of " << rows.size() << " rows broke the promise:" << list;
  std::printf("%zu rows in %.1f s\n", rows.size(), std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}
