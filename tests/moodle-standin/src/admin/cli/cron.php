<?php
// Stand-in of admin/cli/cron.php: drain, disable, enable, or run one pass of tasks.
define('CLI_SCRIPT', true);
require(__DIR__ . '/../../config.php');
[$options, $unrecognised] = cli_get_params(['help' => false, 'stop' => false, 'list' => false, 'force' => false,
    'enable' => false, 'disable' => false, 'disable-wait' => false, 'keep-alive' => 0], ['h' => 'help']);
cli_reject_unrecognised($unrecognised);
if ($options['enable']) {
    set_config('cron_enabled', '1');
    echo "Cron has been enabled for the site.\n";
    exit(0);
}
if ($options['disable']) {
    set_config('cron_enabled', '0');
    echo "Cron has been disabled for the site.\n";
    exit(0);
}
// Moodle's format_time() for whole minutes and seconds: "2 mins", "1 min 5 secs", "30 secs".
function standin_format_time($seconds) {
    $parts = [];
    if ($m = intdiv($seconds, 60)) $parts[] = $m . ($m === 1 ? ' min' : ' mins');
    if (($s = $seconds % 60) || !$parts) $parts[] = $s . ($s === 1 ? ' sec' : ' secs');
    return implode(' ', $parts);
}
if ($options['disable-wait'] !== false) {
    $wait = $options['disable-wait'] === true ? 600 : (int)$options['disable-wait'];
    set_config('cron_enabled', '0');
    // Real Moodle's words (4.3-4.5 admin/cli/cron.php); format_time() names the wait.
    echo "Cron has been disabled for the site.\n";
    echo "Allocating " . standin_format_time($wait) . " for the tasks to finish.\n";
    $until = time() + $wait;
    while ((int)get_config_value('standin_cron_running') > time()) {
        if (time() >= $until) {
            echo "\nWait time (" . standin_format_time($wait) . ") elapsed, but 1 task(s) still running.\n";
            echo "Exiting with code 1.\n";
            exit(1);
        }
        usleep(200000);
    }
    echo "\nAll scheduled and adhoc tasks finished.\n";
    exit(0);
}
if (empty($CFG->cron_enabled)) {
    echo "Cron is disabled. Use --force to override.\n";
    exit(1);
}
if (file_exists($CFG->dataroot . '/climaintenance.html')) {
    echo "CLI maintenance mode active, cron execution suspended.\n";
    exit(1);
}
if (standin_versions_hash(standin_disk_versions()) !== ($CFG->allversionshash ?? '')) {
    echo "Moodle upgrade pending, cron execution suspended.\n";
    exit(1);
}
$seconds = (float)standin_knob('cron_seconds', '0');
set_config('standin_cron_running', (string)(time() + (int)ceil($seconds) + 5));
echo "Execute scheduled task: Stand-in task (core\\task\\standin_task)\n";
usleep((int)($seconds * 1e6));
standin_log_event('\\core\\event\\standin_task_run', 'u', 'cli');
set_config('standin_cron_running', null);
echo "Cron script completed correctly\n";
exit(0);
