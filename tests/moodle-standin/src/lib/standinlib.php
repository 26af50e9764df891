<?php
// Shared helpers of the stand-in: DB access (PDO on MariaDB or PostgreSQL), settings,
// the version map and its hash, CLI options, knobs.

defined('MOODLE_INTERNAL') || define('MOODLE_INTERNAL', true);
define('MATURITY_ALPHA', 50);
define('MATURITY_BETA', 100);
define('MATURITY_RC', 150);
define('MATURITY_STABLE', 200);

function standin_db_connect() {
    global $CFG;
    $opts = [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_TIMEOUT => 5];
    $port = $CFG->dboptions['dbport'] ?? '';
    if ($CFG->dbtype === 'pgsql') {
        $dsn = "pgsql:host={$CFG->dbhost};dbname={$CFG->dbname}" . ($port ? ";port=$port" : '');
    } else if ($CFG->dbtype === 'mariadb' || $CFG->dbtype === 'mysqli') {
        $dsn = "mysql:host={$CFG->dbhost};dbname={$CFG->dbname};charset=utf8mb4" . ($port ? ";port=$port" : '');
    } else {
        throw new Exception("Unknown dbtype {$CFG->dbtype}");
    }
    return new PDO($dsn, $CFG->dbuser, $CFG->dbpass, $opts);
}

function standin_is_pgsql() {
    global $CFG;
    return $CFG->dbtype === 'pgsql';
}

function t($name) {
    global $CFG;
    return $CFG->prefix . $name;
}

function db_exec($sql, $params = []) {
    global $DB;
    $st = $DB->prepare($sql);
    $st->execute($params);
    return $st;
}

function db_value($sql, $params = []) {
    $v = db_exec($sql, $params)->fetchColumn();
    return $v === false ? null : $v;
}

function standin_table_exists($name) {
    global $CFG;
    if (standin_is_pgsql()) {
        return (bool)db_value("SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?", [t($name)]);
    }
    return (bool)db_value("SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?", [t($name)]);
}

function standin_columns($name) {
    $schema = standin_is_pgsql() ? 'current_schema()' : 'DATABASE()';
    $rows = db_exec("SELECT column_name FROM information_schema.columns WHERE table_schema = $schema AND table_name = ?", [t($name)])->fetchAll(PDO::FETCH_COLUMN);
    sort($rows);
    return $rows;
}

function standin_load_config() {
    global $CFG;
    if (!standin_table_exists('config')) {
        if (CLI_SCRIPT) {
            return;
        }
        http_response_code(503);
        echo "Moodle is not installed.";
        exit(0);
    }
    foreach (db_exec("SELECT name, value FROM " . t('config'))->fetchAll(PDO::FETCH_NUM) as [$name, $value]) {
        if (!in_array($name, $CFG->hardset, true)) {
            $CFG->$name = $value;
        }
    }
}

function get_config_value($name, $plugin = 'core') {
    if ($plugin === 'core' || $plugin === 'moodle' || $plugin === '') {
        return db_value("SELECT value FROM " . t('config') . " WHERE name = ?", [$name]);
    }
    return db_value("SELECT value FROM " . t('config_plugins') . " WHERE plugin = ? AND name = ?", [$plugin, $name]);
}

function set_config($name, $value, $plugin = 'core') {
    global $CFG;
    if ($plugin === 'core' || $plugin === 'moodle' || $plugin === '') {
        if ($value === null) {
            db_exec("DELETE FROM " . t('config') . " WHERE name = ?", [$name]);
            unset($CFG->$name);
            return;
        }
        if (db_value("SELECT 1 FROM " . t('config') . " WHERE name = ?", [$name])) {
            db_exec("UPDATE " . t('config') . " SET value = ? WHERE name = ?", [$value, $name]);
        } else {
            db_exec("INSERT INTO " . t('config') . " (name, value) VALUES (?, ?)", [$name, $value]);
        }
        $CFG->$name = $value;
        return;
    }
    if ($value === null) {
        db_exec("DELETE FROM " . t('config_plugins') . " WHERE plugin = ? AND name = ?", [$plugin, $name]);
    } else if (db_value("SELECT 1 FROM " . t('config_plugins') . " WHERE plugin = ? AND name = ?", [$plugin, $name])) {
        db_exec("UPDATE " . t('config_plugins') . " SET value = ? WHERE plugin = ? AND name = ?", [$value, $plugin, $name]);
    } else {
        db_exec("INSERT INTO " . t('config_plugins') . " (plugin, name, value) VALUES (?, ?, ?)", [$plugin, $name, $value]);
    }
}

// Plugin types and their folders, as Moodle's core_component knows them.
function standin_plugin_dirs() {
    return ['mod' => 'mod', 'local' => 'local'];
}

// Reads core and plugin version.php files from disk: component => version.
function standin_disk_versions() {
    global $CFG;
    $version = null;
    require($CFG->dirroot . '/version.php');
    $map = ['core' => $version];
    foreach (standin_plugin_dirs() as $type => $dir) {
        foreach (glob($CFG->dirroot . "/$dir/*/version.php") as $file) {
            $plugin = new stdClass();
            require($file);
            $map[$plugin->component] = $plugin->version;
        }
    }
    ksort($map);
    return $map;
}

// $plugin->requires of each plugin on disk: component => core version it needs.
function standin_disk_requires() {
    global $CFG;
    $map = [];
    foreach (standin_plugin_dirs() as $type => $dir) {
        foreach (glob($CFG->dirroot . "/$dir/*/version.php") as $file) {
            $plugin = new stdClass();
            require($file);
            $map[$plugin->component] = $plugin->requires ?? 0;
        }
    }
    ksort($map);
    return $map;
}

function standin_disk_core() {
    global $CFG;
    $version = $release = $branch = $maturity = null;
    require($CFG->dirroot . '/version.php');
    return (object)['version' => $version, 'release' => $release, 'branch' => $branch, 'maturity' => $maturity];
}

// Like Moodle's allversionshash: the sha1 of the version map found on disk.
function standin_versions_hash($map) {
    return sha1(serialize($map));
}

// Decimal comparison of versions the way Moodle stores them (2022112810.00 == 2022112810).
function standin_version_cmp($a, $b) {
    return bccomp_fallback((string)$a, (string)$b);
}

function bccomp_fallback($a, $b) {
    $fa = (float)$a;
    $fb = (float)$b;
    return $fa < $fb ? -1 : ($fa > $fb ? 1 : 0);
}

// Knobs for tests: standin-knobs.ini in the code root, overridden by MOODLE_STANDIN_* variables.
function standin_knob($name, $default = null) {
    global $CFG;
    $env = getenv('MOODLE_STANDIN_' . strtoupper($name));
    if ($env !== false && $env !== '') {
        return $env;
    }
    $files = [$CFG->dirroot . '/standin-knobs.ini'];
    if (basename($CFG->dirroot) === 'public') {
        $files[] = dirname($CFG->dirroot) . '/standin-knobs.ini';
    }
    foreach ($files as $file) {
        if (is_readable($file)) {
            $ini = parse_ini_file($file);
            if (isset($ini[$name]) && $ini[$name] !== '') {
                return $ini[$name];
            }
        }
    }
    return $default;
}

// Moodle's cli_get_params(): --name=value, --flag, short aliases; unknown options are returned.
function cli_get_params(array $longoptions, array $shortmapping = []) {
    global $argv;
    $options = $longoptions;
    $unrecognised = [];
    foreach (array_slice($argv, 1) as $arg) {
        if (substr($arg, 0, 2) === '--') {
            $parts = explode('=', substr($arg, 2), 2);
            $key = $parts[0];
            $value = $parts[1] ?? true;
            if (array_key_exists($key, $longoptions)) {
                $options[$key] = $value;
            } else {
                $unrecognised[] = $arg;
            }
        } else if (substr($arg, 0, 1) === '-') {
            $key = substr($arg, 1);
            if (isset($shortmapping[$key])) {
                $options[$shortmapping[$key]] = true;
            } else {
                $unrecognised[] = $arg;
            }
        } else {
            $unrecognised[] = $arg;
        }
    }
    return [$options, $unrecognised];
}

function cli_reject_unrecognised(array $unrecognised, $code = 1) {
    if ($unrecognised) {
        fwrite(STDERR, "Unrecognised options:\n  " . implode("\n  ", $unrecognised) . "\nPlease use --help option.\n");
        exit($code);
    }
}

function cli_error($text, $errorcode = 1) {
    fwrite(STDERR, $text . "\n");
    exit($errorcode);
}

function cli_heading($text) {
    echo "== $text ==\n";
}

function standin_require_wwwroot_host() {
    global $CFG;
    $want = parse_url($CFG->wwwroot);
    $wanthost = $want['host'] . (isset($want['port']) ? ':' . $want['port'] : '');
    $gothost = $_SERVER['HTTP_HOST'] ?? '';
    if (strcasecmp($wanthost, $gothost) !== 0) {
        // Moodle sends visitors who used another name to the configured wwwroot.
        http_response_code(303);
        header('Location: ' . $CFG->wwwroot . ($_SERVER['REQUEST_URI'] ?? '/'));
        exit(0);
    }
}

function standin_log_event($eventname, $crud, $origin, $userid = 0, $courseid = 0) {
    db_exec("INSERT INTO " . t('logstore_standard_log') . " (eventname, component, crud, origin, userid, courseid, timecreated) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [$eventname, 'core', $crud, $origin, $userid, $courseid, time()]);
}

// Web pages of a site whose code is newer than its DB send visitors to admin/index.php.
function standin_require_upgraded() {
    global $CFG;
    if (standin_versions_hash(standin_disk_versions()) !== ($CFG->allversionshash ?? '')) {
        http_response_code(303);
        header('Location: ' . $CFG->wwwroot . '/admin/index.php');
        exit(0);
    }
    standin_page_theme();
    standin_page_muc();
}

// Moodle >= 4.4 builds the theme's CSS at the end of upgrade.php (theme_build_css_for_themes)
// into localcache/theme/<themerev>/; purge_caches.php throws it away with a new themerev, and
// the next page builds it again: a cold first page (1.7-5.5 s on real Moodle under load). The
// stand-in keeps a marker there and makes the page that finds it missing slow (knob
// cold_page_ms, default 1500).
function standin_theme_css_path() {
    global $CFG;
    return $CFG->dataroot . '/localcache/theme/' . ($CFG->themerev ?? '0') . '/boost/css/all.css';
}
function standin_build_theme() {
    $path = standin_theme_css_path();
    @mkdir(dirname($path), 02777, true);
    file_put_contents($path, "/* theme built */\n");
}
// Real upgrade.php purges every MUC cache as it exits (its shutdown handler upgrade_finished()
// calls cache_helper::purge_all()), after the theme build: the next page rebuilds the plugin
// callbacks, hooks, capabilities and icon maps (0.6-0.8 s on a real 4.5.6, 884 files included
// against 362 warm). The stand-in keeps a marker in the file store (dataroot/cache, which
// purge_caches.php empties too) and makes the page that finds it missing slow (knob
// muc_cold_page_ms, default 600); each rebuild is a line in dataroot/standin-cold-pages.log.
function standin_muc_marker() {
    global $CFG;
    return $CFG->dataroot . '/cache/standin-muc-built';
}
function standin_purge_muc() {
    @unlink(standin_muc_marker());
}
function standin_page_muc() {
    global $CFG;
    $marker = standin_muc_marker();
    if (is_file($marker)) {
        return;
    }
    usleep((int)standin_knob('muc_cold_page_ms', '600') * 1000);
    @mkdir(dirname($marker), 02777, true);
    @file_put_contents($marker, (string)time());
    @file_put_contents($CFG->dataroot . '/standin-cold-pages.log', sprintf("muc %.3f\n", microtime(true)), FILE_APPEND);
}
function standin_page_theme() {
    if (!is_file(standin_theme_css_path())) {
        usleep((int)standin_knob('cold_page_ms', '1500') * 1000);
        standin_build_theme();
    }
}

// Moodle's email_to_user() sends nothing when $CFG->noemailever is set (a clone's guarantee).
// The stand-in's "mail server" is a spool dir in dataroot, so a test can see what was sent.
function standin_email_to_user($to, $subject) {
    global $CFG;
    if (!empty($CFG->noemailever)) {
        return false;
    }
    $dir = $CFG->dataroot . '/standin-outbox';
    @mkdir($dir, 0770, true);
    file_put_contents($dir . '/' . sprintf('%.6f', microtime(true)) . '.eml', "To: $to\nSubject: $subject\n");
    return true;
}
