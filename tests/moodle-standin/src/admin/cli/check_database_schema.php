<?php
// Stand-in of admin/cli/check_database_schema.php: compares the DB with the code's schema.
define('CLI_SCRIPT', true);
require(__DIR__ . '/../../config.php');
require_once($CFG->dirroot . '/lib/upgradelib.php');
if (empty($CFG->version)) {
    echo "Database is not yet installed.\n";
    exit(2);
}
$problems = [];
foreach (standin_expected_schema(standin_disk_core()->version) as $table => $columns) {
    if (!standin_table_exists($table)) {
        $problems[] = "$table\n * table is missing";
        continue;
    }
    $actual = standin_columns($table);
    foreach (array_diff($columns, $actual) as $c) {
        $problems[] = "$table\n * column '$c' is missing";
    }
    foreach (array_diff($actual, $columns) as $c) {
        $problems[] = "$table\n * column '$c' is not expected";
    }
}
if ($problems) {
    echo implode("\n", $problems) . "\n";
    exit(1);
}
exit(0);
