<?php
require(__DIR__ . '/config.php');
standin_require_upgraded();
echo "<!DOCTYPE html><html><head><title>" . htmlspecialchars($CFG->fullname ?? 'Moodle') . "</title></head><body>";
echo "<h1>" . htmlspecialchars($CFG->fullname ?? 'Moodle') . "</h1><p class=\"release\">" . htmlspecialchars($CFG->release) . "</p></body></html>";
