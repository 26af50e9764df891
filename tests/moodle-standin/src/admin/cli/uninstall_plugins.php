<?php
// Stand-in of admin/cli/uninstall_plugins.php: --show-all and --show-missing print one
// "component<TAB>display name" line per plugin, as real Moodle does; a plugin the DB registers
// whose code is not on disk is "missing from disk". Uninstalling is not stood in.
define('CLI_SCRIPT', true);
require(__DIR__ . '/../../config.php');
[$options, $unrecognised] = cli_get_params(['help' => false, 'show-all' => false, 'show-contrib' => false, 'show-missing' => false,
    'purge-missing' => false, 'plugins' => false, 'run' => false, 'showsql' => false, 'showdebugging' => false], ['h' => 'help']);
if ($unrecognised) {
    cli_error("Unrecognised options:\n  " . implode("\n  ", $unrecognised) . "\nPlease use --help option.");
}
$help = "Command line tool to uninstall plugins.\n\nOptions:\n    -h --help                   Print this help.\n"
    . "    --show-all                  Displays a list of all installed plugins.\n"
    . "    --show-missing              Displays a list of plugins missing from disk.\n";
if ($options['help']) {
    echo $help . "\n";
    exit(0);
}
$ondisk = standin_disk_versions();
$registered = db_exec("SELECT plugin FROM " . t('config_plugins') . " WHERE name = 'version' ORDER BY plugin")->fetchAll(PDO::FETCH_COLUMN);
if ($options['show-all'] || $options['show-missing'] || $options['show-contrib']) {
    foreach (array_unique(array_merge(array_keys($ondisk), $registered)) as $component) {
        if ($component === 'core') {
            continue;
        }
        $missing = !isset($ondisk[$component]);
        if ($options['show-all'] || ($options['show-missing'] && $missing)) {
            echo $component . "\t" . $component . "\n";
        }
    }
    exit(0);
}
echo $help . "\n";
exit(0);
