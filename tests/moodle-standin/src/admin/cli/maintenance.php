<?php
// Stand-in of admin/cli/maintenance.php: the CLI maintenance file in dataroot.
define('CLI_SCRIPT', true);
require(__DIR__ . '/../../config.php');

[$options, $unrecognised] = cli_get_params(['enable' => false, 'enablelater' => 0, 'enableold' => false,
    'disable' => false, 'help' => false], ['h' => 'help']);
cli_reject_unrecognised($unrecognised);
if ($options['help']) {
    echo "Maintenance mode settings.\n\nOptions:\n--enable              Enable CLI maintenance mode\n--enablelater=MINUTES Number of minutes before entering CLI maintenance mode\n--enableold           Enable legacy half-maintenance mode\n--disable             Disable maintenance mode\n-h, --help            Print out this help\n";
    exit(0);
}
cli_heading("Maintenance mode ({$CFG->wwwroot})");
$file = $CFG->dataroot . '/climaintenance.html';
if ($options['enablelater']) {
    set_config('maintenance_later', (string)(time() + 60 * (int)$options['enablelater']));
    echo "CLI maintenance mode will be enabled in {$options['enablelater']} minutes.\n";
    exit(0);
} else if ($options['enable']) {
    if (!file_exists($file)) {
        file_put_contents($file . '.tmp', "<!DOCTYPE html><html><head><title>Maintenance</title></head><body><h1>This site is undergoing maintenance and is currently not available</h1></body></html>");
        rename($file . '.tmp', $file);
    }
    echo "CLI maintenance mode enabled\n";
    exit(0);
} else if ($options['enableold']) {
    set_config('maintenance_enabled', '1');
    echo "Maintenance mode enabled\n";
    exit(0);
} else if ($options['disable']) {
    set_config('maintenance_enabled', '0');
    set_config('maintenance_later', null);
    if (file_exists($file)) {
        unlink($file);
    }
    echo "Maintenance mode disabled\n";
    exit(0);
}
echo file_exists($file) || !empty($CFG->maintenance_enabled) ? "Status: enabled\n" : "Status: disabled\n";
exit(0);
