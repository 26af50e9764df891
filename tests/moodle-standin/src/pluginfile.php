<?php
// Serves a file from filedir by its content hash: /pluginfile.php/<contenthash>
require(__DIR__ . '/config.php');
standin_require_upgraded();
$hash = trim($_SERVER['PATH_INFO'] ?? ($_GET['file'] ?? ''), '/');
if (!preg_match('/^[0-9a-f]{40}$/', $hash) || !db_value("SELECT 1 FROM " . t('files') . " WHERE contenthash = ?", [$hash])) {
    http_response_code(404);
    echo "File not found";
    exit(0);
}
$path = $CFG->dataroot . '/filedir/' . substr($hash, 0, 2) . '/' . substr($hash, 2, 2) . '/' . $hash;
if (!is_readable($path)) {
    http_response_code(404);
    echo "File content missing";
    exit(0);
}
header('Content-Type: application/octet-stream');
header('Content-Length: ' . filesize($path));
readfile($path);
