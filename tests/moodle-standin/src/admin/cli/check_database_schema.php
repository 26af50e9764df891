<?php
// Stand-in of admin/cli/check_database_schema.php: compares the DB with the code's schema and
// prints the report as real Moodle does: per table, a separator line, the table's name (no
// prefix), then " * item" lines; a column no install.xml defines carries its meta type
// ("column 'degree' is not expected (C)"). Nothing to report: "Database structure is ok.".
define('CLI_SCRIPT', true);
require(__DIR__ . '/../../config.php');
require_once($CFG->dirroot . '/lib/upgradelib.php');
if (empty($CFG->version)) {
    echo "Database is not yet installed.\n";
    exit(2);
}
// Moodle's meta type of a column, from its SQL type.
function standin_meta_type($table, $column) {
    $schema = standin_is_pgsql() ? 'current_schema()' : 'DATABASE()';
    $type = strtolower((string)db_exec("SELECT data_type FROM information_schema.columns WHERE table_schema = $schema
        AND table_name = ? AND column_name = ?", [t($table), $column])->fetchColumn());
    if (strpos($type, 'char') !== false) return 'C';
    if (strpos($type, 'text') !== false) return 'X';
    if (strpos($type, 'int') !== false) return 'I';
    if ($type === 'decimal' || $type === 'numeric') return 'N';
    return 'X';
}
$errors = [];
foreach (standin_expected_schema(standin_disk_core()->version) as $table => $columns) {
    if (!standin_table_exists($table)) {
        $errors[$table][] = "table is missing";
        continue;
    }
    $actual = standin_columns($table);
    foreach (array_diff($columns, $actual) as $c) {
        $errors[$table][] = "column '$c' is missing";
    }
    foreach (array_diff($actual, $columns) as $c) {
        $errors[$table][] = "column '$c' is not expected (" . standin_meta_type($table, $c) . ")";
    }
}
if (!$errors) {
    echo "Database structure is ok.\n";
    exit(0);
}
$separator = str_repeat('-', 79) . "\n";
foreach ($errors as $table => $items) {
    echo $separator . "$table\n";
    foreach ($items as $item) {
        echo " * $item\n";
    }
}
echo $separator;
exit(1);
