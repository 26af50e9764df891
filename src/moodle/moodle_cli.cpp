#include "mupgrade/moodle/moodle_cli.hpp"

#include <fmt/format.h>

#include <sstream>

namespace mupgrade::moodle {

using Clock = std::chrono::steady_clock;

MoodleCli::MoodleCli(ports::Containers& engine, std::string container, CodeLayout layout, std::string user)
    : engine_(engine), container_(std::move(container)), layout_(std::move(layout)), user_(std::move(user)) {}

CodeLayout MoodleCli::detect_layout(ports::Containers& engine, const std::string& container,
                                    const std::string& code_root) {
  ports::ExecOptions opts;
  opts.cmd = {"test", "-f", code_root + "/" + core::CodeLayout{true}.version_file()};
  opts.timeout = std::chrono::seconds(10);
  auto r = engine.exec(container, opts);
  return CodeLayout{code_root, r.exit_code == 0};
}

CliRun MoodleCli::run(const std::string& script, const std::vector<std::string>& args,
                      std::chrono::milliseconds timeout, ports::LineFn on_line, const std::vector<std::string>& php_options) {
  ports::ExecOptions opts;
  opts.cmd = {"php"};
  for (const auto& o : php_options) opts.cmd.insert(opts.cmd.end(), {"-d", o});
  opts.cmd.push_back(layout_.script(script));
  opts.cmd.insert(opts.cmd.end(), args.begin(), args.end());
  opts.user = user_;
  opts.workdir = layout_.code_root;
  opts.timeout = timeout;
  opts.on_line = std::move(on_line);
  auto r = engine_.exec(container_, opts);
  return CliRun{r.exit_code, strip_ansi(r.out), strip_ansi(r.err), r.timed_out, r.duration};
}

CliRun MoodleCli::install_database(const std::string& password_file, const std::string& fullname,
                                  const std::string& shortname, std::chrono::milliseconds timeout) {
  std::string script = layout_.script("install_database");
  std::string prelude = fmt::format(
      "$f = $argv[1]; $pw = rtrim((string)@file_get_contents($f), \"\\r\\n\"); @unlink($f);"
      "if ($pw === '') {{ fwrite(STDERR, \"no admin password in $f\\n\"); exit(1); }}"
      "$argv = array_merge(['{0}'], array_slice($argv, 2), ['--adminpass=' . $pw]);"
      "$_SERVER['argv'] = $argv; $argc = count($argv); $_SERVER['argc'] = $argc; unset($pw, $f);"
      "require '{0}';",
      script);
  return run_program("install_database", prelude,
                     {password_file, "--agree-license", "--lang=en", "--fullname=" + fullname, "--shortname=" + shortname}, timeout);
}

CliRun MoodleCli::run_program(const std::string& what, const std::string& program, const std::vector<std::string>& args,
                              std::chrono::milliseconds timeout) {
  ports::ExecOptions opts;
  opts.cmd = {"php", "-r", program, "--"};
  opts.cmd.insert(opts.cmd.end(), args.begin(), args.end());
  opts.user = user_;
  opts.workdir = layout_.code_root;
  opts.timeout = timeout;
  auto e = engine_.exec(container_, opts);
  CliRun r{e.exit_code, strip_ansi(e.out), strip_ansi(e.err), e.timed_out, e.duration};
  if (r.exit_code != 0 || r.timed_out) fail(what, r);
  return r;
}

void MoodleCli::fail(const std::string& script, const CliRun& r) {
  auto first_line = [](const std::string& s) {
    auto nl = s.find('\n');
    return s.substr(0, nl);
  };
  std::string said = !r.err.empty() ? first_line(r.err) : first_line(r.out);
  for (const std::string& text : {r.out, r.err}) {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
      if (auto e = error_of_line(line)) {
        said = *e;
        break;
      }
  }
  if (r.timed_out) throw MoodleCliError(fmt::format("moodle: {}.php did not finish in time and was killed", script), r);
  std::string hint;
  if (said.find("Site is being upgraded") != std::string::npos)
    hint = "an upgrade.php run holds Moodle's upgrade lock; wait for it to finish";
  else if (said.find("Database connection failed") != std::string::npos)
    hint = "start the set's DB container and check config.php's db settings";
  else if (said.find("dataroot") != std::string::npos)
    hint = "mount moodledata where config.php's $CFG->dataroot points, writable by the web server user";
  throw MoodleCliError(fmt::format("moodle: {}.php exited {} ({})", script, r.exit_code, said), r, hint);
}

CliRun MoodleCli::run_expect(const std::string& script, const std::vector<std::string>& args,
                             std::initializer_list<int> ok) {
  CliRun r = run(script, args);
  for (int code : ok)
    if (!r.timed_out && r.exit_code == code) return r;
  fail(script, r);
}

void MoodleCli::maintenance_enable() { run_expect("maintenance", {"--enable"}, {0}); }
void MoodleCli::maintenance_disable() { run_expect("maintenance", {"--disable"}, {0}); }

bool MoodleCli::maintenance_enabled() {
  CliRun r = run_expect("maintenance", {}, {0});
  if (r.out.find("Status: enabled") != std::string::npos) return true;
  if (r.out.find("Status: disabled") != std::string::npos) return false;
  fail("maintenance", r);
}

PendingState MoodleCli::upgrade_pending() {
  CliRun r = run("upgrade", {"--is-pending"});
  if (r.exit_code == 2) return PendingState::pending;
  if (r.exit_code == 0) return PendingState::up_to_date;
  if (r.exit_code == 1 && r.err.find("OLDER than the version that made these databases") != std::string::npos)
    return PendingState::downgrade_refused;
  fail("upgrade", r);
}

std::optional<bool> MoodleCli::maintenance_required() {
  CliRun r = run("upgrade", {"--is-maintenance-required"});
  if (r.exit_code == 2) return true;   // "This upgrade WILL result in maintenance mode for users."
  if (r.exit_code == 3) return false;  // "This upgrade WILL NOT result in maintenance mode for users."
  if (r.exit_code == 0) return false;  // no upgrade needed
  // Before 4.2: "Unrecognised options: --is-maintenance-required" (cliunknowoption), exit 1.
  if (r.exit_code == 1 && (r.err + r.out).find("is-maintenance-required") != std::string::npos) return std::nullopt;
  fail("upgrade", r);
}

std::vector<std::string> MoodleCli::refused_plugins() {
  // upgrade.php asks before changing anything; without --non-interactive its environment and
  // plugin checks run first, then the "n" on stdin ends it with exit 1.
  ports::ExecOptions opts;
  opts.cmd = {"/bin/sh", "-c", "echo n | exec php \"$0\" --lang=en", layout_.script("upgrade")};
  opts.user = user_;
  opts.workdir = layout_.code_root;
  opts.timeout = kCliTimeout;
  auto r = engine_.exec(container_, opts);
  if (r.timed_out) fail("upgrade", CliRun{r.exit_code, strip_ansi(r.out), strip_ansi(r.err), true, r.duration});
  return plugins_failing_dependencies(r.err + "\n" + r.out);
}

std::vector<std::string> MoodleCli::missing_plugins() {
  CliRun r = run_expect("uninstall_plugins", {"--show-missing"}, {0});
  return parse_missing_plugins(r.out);
}

UpgradeResult MoodleCli::upgrade(const std::function<void(const UpgradeProgress&)>& on_progress,
                                 std::chrono::milliseconds timeout) {
  auto start = Clock::now();
  std::string component = "core";
  auto on_line = [&](ports::Stream, std::string_view line) {
    if (auto c = component_of_progress_line(line)) component = *c;
    if (on_progress)
      on_progress({component, std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start),
                   strip_ansi(line)});
  };
  // OPcache for this one long PHP process (the CLI has it off): each script compiled once and
  // optimised; 4.3 -> 4.5.6 on MariaDB took 23.7-24.3 s with it, 25.8-27.0 s without. Timestamps
  // are checked on every include, because upgrade.php rewrites PHP files it includes again (the
  // component cache, muc/config.php). No file cache: with one, upgrade.php once stopped without a
  // word (README, "Green's first page"). No cycle collector: about 6 % of upgrade.php on real
  // 4.3 -> 4.5.6 (29.8-31.7 s against 32.0-33.6 s) for the same peak memory (150 MB); cycles
  // come from code-sized structures (the admin tree, XMLDB), not from the data, and the
  // rehearsal runs this same command first.
  // opcache_reset() disabled: Moodle calls it at upgrade.php's start and at every reset of its
  // string and plugin caches, which the upgrade does throughout, so the cache was empty most of
  // the run (3,460 scripts cached at the end instead of 2; real 4.3 -> 4.5.6, MariaDB: 16.8-18.2 s
  // against 27.7-28.1 s, PHP's CPU 7 s against 16 s). The resets are for code or language files
  // changed on disk; the timestamp check above catches those, and OPcache never caches a file
  // younger than 2 s (opcache.file_update_protection), so a rewrite within the same second is
  // read again too. Moodle checks function_exists() before each call.
  CliRun r = run("upgrade", {"--non-interactive", "--lang=en"}, timeout, on_line,
                 {"opcache.enable_cli=1", "opcache.validate_timestamps=1", "opcache.revalidate_freq=0", "zend.enable_gc=0",
                  "disable_functions=opcache_reset"});
  UpgradeResult result;
  result.exit_code = r.exit_code;
  result.duration = r.duration;
  result.output = r.out + r.err;
  result.summary = summarize_upgrade_output(r.out);
  if (result.summary.error.empty()) {
    if (auto e = error_of_line(r.err)) result.summary.error = *e;
    else if (r.exit_code != 0 && !r.err.empty()) result.summary.error = r.err.substr(0, r.err.find('\n'));
  }
  if (r.timed_out) result.summary.error = "upgrade.php did not finish in time and was killed";
  result.ok = r.exit_code == 0 && !r.timed_out;
  return result;
}

namespace {
// PHP run in the web container by carry_redis_sessions (argv[1]: the set's Redis alias). Shapes
// from 4.3's and 4.5.6's lib/classes/session/redis.php: phpredis' serializer (PHP unless
// igbinary is configured) applies to every value, so the old data is read and written back
// through the same one, compressed or not as it was stored.
constexpr const char* kCarrySessionsPhp = R"php(// mupgrade-carry-sessions
define('CLI_SCRIPT', true);
define('ABORT_AFTER_CONFIG', true);
require 'config.php';
$alias = $argv[1] ?? 'cache';
if (ltrim((string)($CFG->session_handler_class ?? ''), '\\') !== 'core\\session\\redis') {
    echo "skipped: sessions are not in Redis\n"; exit(0);
}
if (trim((string)($CFG->session_redis_host ?? '')) !== $alias || !empty($CFG->session_redis_encrypt)) {
    echo "skipped: sessions are in the Redis at '" . ($CFG->session_redis_host ?? '') . "', not the set's own ('$alias')\n"; exit(0);
}
$vf = is_file('public/version.php') ? 'public/version.php' : 'version.php';
if (!preg_match('/^\s*\$version\s*=\s*([0-9]+)/m', (string)file_get_contents($vf), $m) || (int)$m[1] < 2024100700) {
    echo "skipped: this code (before 4.5) reads sessions in Redis as they are\n"; exit(0);
}
$port = (int)($CFG->dboptions['dbport'] ?? 0);
if ($CFG->dbtype === 'pgsql') {
    $dsn = "pgsql:host={$CFG->dbhost};dbname={$CFG->dbname}" . ($port ? ";port=$port" : '');
} else if (in_array($CFG->dbtype, ['mariadb', 'mysqli', 'auroramysql'], true)) {
    $dsn = "mysql:host={$CFG->dbhost};dbname={$CFG->dbname};charset=utf8mb4" . ($port ? ";port=$port" : '');
} else {
    echo "skipped: DB type {$CFG->dbtype}\n"; exit(0);
}
$db = new PDO($dsn, $CFG->dbuser, $CFG->dbpass, [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_TIMEOUT => 10]);
$rows = $db->query("SELECT sid, userid, state, timecreated, timemodified, firstip, lastip FROM {$CFG->prefix}sessions WHERE userid <> 0")
    ->fetchAll(PDO::FETCH_ASSOC);
$r = new Redis();
if (!$r->connect($alias, (int)($CFG->session_redis_port ?? 6379), 5)) {
    fwrite(STDERR, "cannot connect to Redis at $alias\n"); exit(1);
}
if ((string)($CFG->session_redis_auth ?? '') !== '') $r->auth($CFG->session_redis_auth);
$igbinary = !empty($CFG->session_redis_serializer_use_igbinary) && defined('Redis::SERIALIZER_IGBINARY');
$r->setOption(Redis::OPT_SERIALIZER, $igbinary ? Redis::SERIALIZER_IGBINARY : Redis::SERIALIZER_PHP);
if ((string)($CFG->session_redis_prefix ?? '') !== '') $r->setOption(Redis::OPT_PREFIX, $CFG->session_redis_prefix);
if ((int)($CFG->session_redis_database ?? 0) !== 0) $r->select((int)$CFG->session_redis_database);
$carried = 0;
foreach ($rows as $row) {
    $sid = $row['sid'];
    $ttl = $r->ttl($sid);
    if ($ttl <= 0 || $r->exists('session_' . $sid)) continue;
    $data = $r->get($sid);
    if (!is_string($data)) continue;
    $r->hMSet('session_' . $sid, ['id' => $sid, 'state' => (string)$row['state'], 'sid' => $sid, 'userid' => (int)$row['userid'],
        'sessdata' => $data, 'timecreated' => (int)$row['timecreated'], 'timemodified' => (int)$row['timemodified'],
        'firstip' => (string)$row['firstip'], 'lastip' => (string)$row['lastip']]);
    $r->expire('session_' . $sid, $ttl);
    $user = 'user_' . $row['userid'];
    $r->hSet($user, $sid, (int)$row['timecreated']);
    if ($r->ttl($user) < $ttl) $r->expire($user, $ttl);
    $carried++;
}
echo "carried $carried session(s) of " . count($rows) . " in {$CFG->prefix}sessions from Redis' shape before Moodle 4.5 (<prefix><sid>) to 4.5's (<prefix>session_<sid>)\n";
)php";
}  // namespace

std::string MoodleCli::carry_redis_sessions(const std::string& redis_host) {
  CliRun r = run_program("carry-sessions", kCarrySessionsPhp, {redis_host}, kCliTimeout);
  std::string line = r.out.substr(0, r.out.find('\n'));
  return line;
}

void MoodleCli::purge_caches() { run_expect("purge_caches", {}, {0}); }

std::optional<std::string> MoodleCli::cfg_get(const std::string& name, const std::string& component) {
  std::vector<std::string> args = {"--name=" + name, "--no-eol"};
  if (!component.empty()) args.push_back("--component=" + component);
  CliRun r = run("cfg", args);
  if (r.exit_code == 3) return std::nullopt;
  if (r.exit_code != 0) fail("cfg", r);
  return r.out;
}

void MoodleCli::cfg_set(const std::string& name, const std::string& value, const std::string& component) {
  std::vector<std::string> args = {"--name=" + name, "--set=" + value};
  if (!component.empty()) args.push_back("--component=" + component);
  CliRun r = run("cfg", args);
  if (r.exit_code == 4)
    throw MoodleCliError(fmt::format("moodle: setting {} is hard-set in config.php", name), r,
                         "change it in config.php, or remove it there to manage it with cfg.php");
  if (r.exit_code != 0) fail("cfg", r);
}

CheckRun MoodleCli::checks(const std::string& filter) {
  std::vector<std::string> args;
  if (!filter.empty()) args.push_back("--filter=" + filter);
  CliRun r = run("checks", args);
  if (r.exit_code < 0 || r.exit_code > 3) fail("checks", r);
  return {static_cast<CheckLevel>(r.exit_code), r.out};
}

std::optional<std::string> MoodleCli::schema_differences() {
  CliRun r = run("check_database_schema", {});
  if (r.exit_code == 0) return std::nullopt;
  if (r.exit_code == 1 && !r.out.empty()) return r.out;
  fail("check_database_schema", r);
}

bool MoodleCli::cron_disable_wait(std::chrono::seconds wait) {
  CliRun r = run("cron", {fmt::format("--disable-wait={}", wait.count())},
                 std::chrono::duration_cast<std::chrono::milliseconds>(wait) + kCliTimeout);
  if (r.exit_code == 0) return true;
  // Moodle 4.x: "Wait time (2 mins) elapsed, but 1 task(s) still running." then "Exiting with code 1."
  if (r.exit_code == 1 && r.out.find("elapsed, but") != std::string::npos && r.out.find("still running") != std::string::npos) return false;
  fail("cron", r);
}

void MoodleCli::cron_enable() { run_expect("cron", {"--enable"}, {0}); }

}  // namespace mupgrade::moodle
