<?php
// The page Moodle sends every visitor to while an upgrade is pending.
require(__DIR__ . '/../config.php');
if (standin_versions_hash(standin_disk_versions()) !== ($CFG->allversionshash ?? '')) {
    http_response_code(503);
    echo "<p>An upgrade is pending: the site administrator must complete it.</p>";
    exit(0);
}
echo "<p>Site administration</p>";
