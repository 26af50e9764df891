<?php
// Test data for the stand-in (not part of Moodle's contract): users, courses, log rows to
// reach a DB size, and files in filedir (stored by content hash like Moodle's file pool).
define('CLI_SCRIPT', true);
require(__DIR__ . '/../../config.php');
[$options, $unrecognised] = cli_get_params(['users' => 10, 'courses' => 5, 'files-mb' => 1, 'db-mb' => 1, 'file-kb' => 256], []);
cli_reject_unrecognised($unrecognised);
$now = time();
$batch = function ($table, $cols, $rows) {
    if (!$rows) return;
    $place = '(' . implode(',', array_fill(0, count($cols), '?')) . ')';
    db_exec("INSERT INTO " . t($table) . " (" . implode(',', $cols) . ") VALUES " . implode(',', array_fill(0, count($rows), $place)),
        array_merge(...$rows));
};
$base = (int)db_value("SELECT COALESCE(MAX(id), 0) FROM " . t('user'));
for ($i = 0; $i < (int)$options['users']; $i += 500) {
    $rows = [];
    for ($j = $i; $j < min((int)$options['users'], $i + 500); $j++) {
        $n = $base + $j + 1;
        $rows[] = ["user$n", "user$n@example.invalid", "First$n", "Last$n", $now];
    }
    $batch('user', ['username', 'email', 'firstname', 'lastname', 'timecreated'], $rows);
}
$rows = [];
for ($i = 1; $i <= (int)$options['courses']; $i++) {
    $rows[] = ["Course $i", "C$i-" . bin2hex(random_bytes(3)), str_repeat('Summary text. ', 20), $now];
}
$batch('course', ['fullname', 'shortname', 'summary', 'timecreated'], $rows);
// Log rows of ~1 KB each until the requested DB size is reached.
$other = str_repeat('x', 900);
$logrows = (int)$options['db-mb'] * 1024;
for ($i = 0; $i < $logrows; $i += 200) {
    $rows = [];
    for ($j = $i; $j < min($logrows, $i + 200); $j++) {
        $rows[] = ['\\core\\event\\course_viewed', 'core', 'r', 'web', 1, 1, $now, $other];
    }
    $batch('logstore_standard_log', ['eventname', 'component', 'crud', 'origin', 'userid', 'courseid', 'timecreated', 'other'], $rows);
}
$filekb = max(1, (int)$options['file-kb']);
$count = (int)ceil((int)$options['files-mb'] * 1024 / $filekb);
$rows = [];
for ($i = 0; $i < $count; $i++) {
    $content = random_bytes($filekb * 1024);
    $hash = sha1($content);
    $dir = $CFG->dataroot . '/filedir/' . substr($hash, 0, 2) . '/' . substr($hash, 2, 2);
    @mkdir($dir, 02777, true);
    file_put_contents("$dir/$hash", $content);
    // Two rows, one file in filedir: Moodle's file pool stores a content once, and an upload
    // leaves a draft-area row beside the final one with the same contenthash.
    $rows[] = [$hash, sha1("/file$i"), "file$i.bin", strlen($content), 1, $now];
    $rows[] = [$hash, sha1("/draft/file$i"), "file$i.bin", strlen($content), 1, $now];
    if (count($rows) >= 200) {
        $batch('files', ['contenthash', 'pathnamehash', 'filename', 'filesize', 'userid', 'timecreated'], $rows);
        $rows = [];
    }
}
$batch('files', ['contenthash', 'pathnamehash', 'filename', 'filesize', 'userid', 'timecreated'], $rows);
echo "Generated {$options['users']} users, {$options['courses']} courses, $logrows log rows, $count files.\n";
exit(0);
