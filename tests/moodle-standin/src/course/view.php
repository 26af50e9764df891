<?php
require(__DIR__ . '/../config.php');
standin_require_upgraded();
$id = (int)($_GET['id'] ?? 0);
$name = db_value("SELECT fullname FROM " . t('course') . " WHERE id = ?", [$id]);
if ($name === null) {
    http_response_code(404);
    echo "Course not found";
    exit(0);
}
echo "<!DOCTYPE html><html><head><title>Course: " . htmlspecialchars($name) . "</title></head><body><h1>" . htmlspecialchars($name) . "</h1></body></html>";
