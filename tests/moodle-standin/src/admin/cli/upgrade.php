<?php
// Stand-in of admin/cli/upgrade.php: same flags, decision order, texts and exit codes.
define('CLI_SCRIPT', true);
require(__DIR__ . '/../../config.php');
require_once($CFG->dirroot . '/lib/upgradelib.php');

[$options, $unrecognised] = cli_get_params(['non-interactive' => false, 'allow-unstable' => false, 'help' => false,
    'lang' => 'en', 'verbose-settings' => false, 'is-pending' => false, 'is-maintenance-required' => false,
    'maintenance' => true], ['h' => 'help']);
if ((int)standin_disk_core()->branch < 402 && $options['is-maintenance-required'] !== false) {
    $unrecognised[] = '--is-maintenance-required';  // new in Moodle 4.2
}
cli_reject_unrecognised($unrecognised);
if ($options['help']) {
    echo "Command line Moodle upgrade.\n\nOptions:\n--non-interactive     No interactive questions or confirmations\n--allow-unstable      Upgrade even if the version is not marked as stable yet\n--lang=CODE           Set preferred language for CLI output\n--verbose-settings    Show new settings values\n--is-pending          If an upgrade is needed it exits with an error code of 2\n--is-maintenance-required   Returns exit code 2 if the upgrade requires maintenance mode, 3 if not\n-h, --help            Print out this help\n";
    exit(0);
}

$disk = standin_disk_core();
$diskmap = standin_disk_versions();
if (standin_version_cmp($disk->version, $CFG->version) < 0) {
    cli_error("ERROR!!!  The code you are using is OLDER than the version that made these databases!");
}
$pending = standin_versions_hash($diskmap) !== ($CFG->allversionshash ?? '');
if (!$pending) {
    cli_error("No upgrade needed for the installed version {$CFG->release} ({$CFG->version}). Thanks for coming anyway!", 0);
}
if ($options['is-pending'] && !$options['is-maintenance-required']) {
    cli_error('An upgrade is pending', 2);
}
if ($options['is-maintenance-required']) {
    // Moodle 4.2+: whether the code change needs maintenance (real Moodle compares the component
    // hash; the stand-in takes the knob maintenance_required, default 1).
    echo "An upgrade is pending\n";
    if ((string)standin_knob('maintenance_required', '1') === '0') {
        cli_error('This upgrade WILL NOT result in maintenance mode for users.', 3);
    }
    cli_error('This upgrade WILL result in maintenance mode for users.', 2);
}

$problems = standin_environment_problems();
if ($problems) {
    echo "== Environment ==\n";
    foreach ($problems as $p) {
        echo "!! $p !!\n[System] this test must pass\n";
    }
    exit(1);
}

// Plugin check, as real upgrade.php does it after the environment: a plugin whose
// $plugin->requires is above the new core version refuses this release.
$failed = [];
foreach (standin_disk_requires() as $component => $requires) {
    if (standin_version_cmp($requires, $disk->version) > 0) {
        $failed[] = $component;
    }
}
if ($failed) {
    fwrite(STDERR, 'Dependencies check failed for ' . implode(', ', $failed) . "\n");
    cli_error('You must solve all the plugin requirements before proceeding to install this Moodle version!');
}

if (!$options['non-interactive']) {
    // Moodle asks and, with no terminal, keeps asking.
    while (true) {
        echo "Do you really want to continue? (y/n)\n";
        $answer = fgets(STDIN);
        if ($answer === false) {
            sleep(1);
            continue;
        }
        if (trim($answer) === 'y') {
            break;
        }
        if (trim($answer) === 'n') {
            exit(1);
        }
    }
}

// As real upgrade.php names them in its last line: "4.3 (Build: 20231009) (2023100900)".
$oldrelease = $CFG->release . ' (' . (float)$CFG->version . ')';
set_config('upgraderunning', (string)(time() + 300));
// As real upgrade.php (at its start) and Moodle's string and plugin cache resets (throughout the
// upgrade): OPcache emptied, unless PHP was run with the function disabled.
function standin_reset_opcache() {
    if (function_exists('opcache_reset') && !isset($_SERVER['REMOTE_ADDR'])) {
        opcache_reset();
    }
}
standin_reset_opcache();
// As real upgrade_finished(): upgraderunning unset, then every MUC cache purged.
register_shutdown_function(function () {
    try {
        set_config('upgraderunning', null);
    } catch (Throwable $e) {
    }
    standin_purge_muc();
});
if (function_exists('pcntl_async_signals')) {
    pcntl_async_signals(true);
    pcntl_signal(SIGTERM, function () { exit(143); });
    pcntl_signal(SIGINT, function () { exit(130); });
}

// Work to do: core steps above the DB version, then each plugin whose disk version differs.
$work = [];
foreach (standin_core_steps() as $version => [$desc, $change]) {
    if (standin_version_cmp($version, $CFG->version) > 0 && standin_version_cmp($version, $disk->version) <= 0) {
        $work[] = ['core', $version, $desc, $change];
    }
}
$plugins = [];
foreach ($diskmap as $component => $version) {
    if ($component !== 'core' && (string)get_config_value('version', $component) !== (string)$version) {
        $plugins[$component] = $version;
    }
}
$seconds = (float)standin_knob('upgrade_seconds', '0');
$failat = (string)standin_knob('fail_at', '');
$slice = $seconds / max(1, count($work) + count($plugins) + 1);

function standin_fail($component, $message) {
    upgrade_log(2, $component, 'Exception: ' . $message, $message);
    echo "!!! $message !!!\n";
    echo "Error code: upgradeerror\n";
    exit(1);
}

// As real upgrade.php before core's upgrade: cache_helper::purge_all(true), which purges
// every MUC store's definitions (in Redis: their hashes only, never the sessions).
standin_muc_purge();
$start = microtime(true);
echo "-->System\n";
foreach ($work as [$component, $version, $desc, $change]) {
    usleep((int)($slice * 1e6));
    if ($failat === 'core' || $failat === $version) {
        standin_fail('core', "Stand-in injected failure in core at $version");
    }
    standin_apply_change($change);
    standin_reset_opcache();
    set_config('version', $version);
    upgrade_log(0, 'core', 'Upgrade savepoint reached', $desc, $version, (string)$disk->version);
}
set_config('version', (string)$disk->version);
set_config('release', $disk->release);
set_config('branch', $disk->branch);
printf("++ Success (%.2f seconds) ++\n", microtime(true) - $start);

foreach ($plugins as $component => $version) {
    $t0 = microtime(true);
    echo "-->$component\n";
    usleep((int)($slice * 1e6));
    $installed = get_config_value('version', $component);
    if ($installed !== null && standin_version_cmp($installed, $version) > 0) {
        standin_fail($component, "Cannot downgrade $component from $installed to $version.");
    }
    if ($failat === $component) {
        standin_fail($component, "Stand-in injected failure in $component");
    }
    set_config('version', (string)$version, $component);
    upgrade_log(0, $component, 'Upgrade savepoint reached', null, (string)$version, (string)$version);
    printf("++ Success (%.2f seconds) ++\n", microtime(true) - $t0);
}
// Like a site's local plugin that adds columns to a core table when it is installed (a real
// site's local_corechanges adds a dozen to user): check_database_schema then reports them.
if ($bad = standin_add_plugin_columns()) {
    standin_fail('local_standin', "bad plugin_adds_columns knob '$bad' (table.column)");
}
usleep((int)($slice * 1e6));
set_config('allversionshash', standin_versions_hash($diskmap));
if (standin_knob('upgrade_sends_email', '0') === '1') {
    // Like a plugin's upgrade step that mails the admins: email_to_user honours noemailever.
    standin_email_to_user('admin@example.invalid', "Site upgraded to {$disk->release}");
}
// As Moodle >= 4.4: the theme is built last, after the upgrade's own cache purges.
set_config('themerev', (string)time());
standin_build_theme();
$newrelease = $disk->release . ' (' . (float)$disk->version . ')';
echo "Command line upgrade from $oldrelease to $newrelease completed successfully.\n";
exit(0);
