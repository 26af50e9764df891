<?php
// Stand-in of admin/cli/purge_caches.php.
define('CLI_SCRIPT', true);
require(__DIR__ . '/../../config.php');
[$options, $unrecognised] = cli_get_params(['help' => false, 'muc' => false, 'theme' => false, 'lang' => false,
    'js' => false, 'filter' => false, 'router' => false, 'other' => false], ['h' => 'help']);
cli_reject_unrecognised($unrecognised, 2);
if ($options['help']) {
    echo "Invalidates Moodle internal caches\n";
    exit(0);
}
foreach (['cache', 'localcache'] as $dir) {
    $path = $CFG->dataroot . '/' . $dir;
    if (is_dir($path)) {
        exec('rm -rf ' . escapeshellarg($path));
    }
    @mkdir($path, 02777, true);
}
standin_muc_purge();
set_config('themerev', (string)time());
set_config('jsrev', (string)time());
exit(0);
