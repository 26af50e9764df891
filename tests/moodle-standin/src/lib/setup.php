<?php
// Stand-in bootstrap, in Moodle's order: dataroot and wwwroot checks, CLI maintenance
// (web only, before the DB), DB connection, settings from mdl_config, the upgrade lock.
// Loaded by config.php as `require_once(__DIR__ . '/lib/setup.php')`.

global $CFG, $DB;
if (!defined('CLI_SCRIPT')) {
    define('CLI_SCRIPT', false);
}
$CFG->dirroot = dirname(__DIR__);
$CFG->prefix = $CFG->prefix ?? 'mdl_';
$CFG->admin = $CFG->admin ?? 'admin';
$CFG->hardset = array_keys(get_object_vars($CFG));
require_once(__DIR__ . '/standinlib.php');
require_once(__DIR__ . '/sessionlib.php');

if (empty($CFG->wwwroot)) {
    echo "Fatal error: \$CFG->wwwroot is not configured! Exiting.\n";
    exit(1);
}
if (empty($CFG->dataroot) || !is_dir($CFG->dataroot) || !is_writable($CFG->dataroot)) {
    echo "Fatal error: \$CFG->dataroot is not configured properly, directory does not exist or is not accessible! Exiting.\n";
    exit(1);
}

// As real Moodle: a script that defines ABORT_AFTER_CONFIG gets $CFG from config.php and
// nothing else (no DB connection, no settings, no bootstrap cost).
if (defined('ABORT_AFTER_CONFIG') && !defined('ABORT_AFTER_CONFIG_CANCEL')) {
    return;
}

// Real Moodle's bootstrap costs every CLI run 1-2.5 s (about 460 plugins, caches, the DB):
// knob cli_bootstrap_ms. Each run's start and end (Unix seconds) and script go to
// <dataroot>/standin-cli-runs.log, so a test can see runs that overlapped.
if (CLI_SCRIPT && (int)standin_knob('cli_bootstrap_ms', '0') > 0) {
    $standinclistart = microtime(true);
    usleep((int)standin_knob('cli_bootstrap_ms', '0') * 1000);
    register_shutdown_function(function () use ($standinclistart) {
        global $CFG;
        $script = basename($_SERVER['argv'][0] ?? '?');
        file_put_contents($CFG->dataroot . '/standin-cli-runs.log',
            sprintf("%.6f %.6f %s\n", $standinclistart, microtime(true), $script), FILE_APPEND | LOCK_EX);
    });
}

// Knob record_cli_php=1: each CLI run's script, arguments, OPcache and cycle collector state (what `php -d`
// gave it) go to <dataroot>/standin-cli-php.log, so a test can see how mupgrade ran PHP.
if (CLI_SCRIPT && standin_knob('record_cli_php', '0') === '1') {
    $standinopcache = function_exists('opcache_get_status') ? opcache_get_status(false) : false;
    file_put_contents($CFG->dataroot . '/standin-cli-php.log', sprintf("%s opcache_enabled=%d validate_timestamps=%s revalidate_freq=%s gc_enabled=%d opcache_reset=%d\n",
        implode(' ', array_map('basename', array_slice($_SERVER['argv'], 0, 1))) . ' ' . implode(' ', array_slice($_SERVER['argv'], 1)),
        !empty($standinopcache['opcache_enabled']), ini_get('opcache.validate_timestamps'), ini_get('opcache.revalidate_freq'), gc_enabled(),
        function_exists('opcache_reset')),
        FILE_APPEND | LOCK_EX);
}

if (!CLI_SCRIPT) {
    if (file_exists($CFG->dataroot . '/climaintenance.html')) {
        http_response_code(503);
        header('Retry-After: 300');
        readfile($CFG->dataroot . '/climaintenance.html');
        exit(0);
    }
    standin_require_wwwroot_host();
}

try {
    $DB = standin_db_connect();
} catch (Throwable $e) {
    if (CLI_SCRIPT) {
        echo "!!! <p>Error: Database connection failed</p> !!!\n";
        echo "!! " . $e->getMessage() . " !!\n";
        exit(1);
    }
    http_response_code(503);
    echo "<p>Error: Database connection failed</p>";
    exit(0);
}

if (!defined('STANDIN_NO_TABLES_NEEDED')) {
    standin_load_config();
}

if (CLI_SCRIPT && !defined('STANDIN_NO_TABLES_NEEDED')) {
    $running = (int)($CFG->upgraderunning ?? 0);
    if ($running > time()) {
        echo "!!! Site is being upgraded, please retry later. !!!\n";
        exit(1);
    }
}
