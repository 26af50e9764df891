<?php
// Stand-in of admin/cli/checks.php: NRPE-style status of a few checks.
define('CLI_SCRIPT', true);
require(__DIR__ . '/../../config.php');
[$options, $unrecognised] = cli_get_params(['help' => false, 'filter' => '', 'type' => 'status', 'verbose' => false], ['h' => 'help']);
cli_reject_unrecognised($unrecognised);
$results = [];
$pending = standin_versions_hash(standin_disk_versions()) !== ($CFG->allversionshash ?? '');
$results['upgradecheck'] = $pending ? [2, 'CRITICAL', 'An upgrade is pending'] : [0, 'OK', 'No upgrade pending'];
$failed = db_value("SELECT COUNT(*) FROM " . t('upgrade_log') . " WHERE type = 2 AND timemodified >= ?",
    [(int)db_value("SELECT MAX(timemodified) FROM " . t('upgrade_log') . " WHERE type = 0")]);
$results['upgradelog'] = $failed ? [2, 'CRITICAL', 'Upgrade errors logged'] : [0, 'OK', 'No upgrade errors'];
$results['dataroot'] = is_writable($CFG->dataroot) ? [0, 'OK', 'dataroot writable'] : [2, 'CRITICAL', 'dataroot not writable'];
$worst = 0;
foreach ($results as $name => [$code, $label, $text]) {
    if ($options['filter'] !== '' && strpos($name, $options['filter']) === false) {
        continue;
    }
    $worst = max($worst, $code);
    echo "$label: $name: $text\n";
}
exit($worst);
