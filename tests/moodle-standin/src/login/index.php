<?php
// Login page; shows the release the DB reports, so a check can tell sets apart.
require(__DIR__ . '/../config.php');
standin_require_upgraded();
echo "<!DOCTYPE html><html><head><title>Log in to the site</title></head><body>";
echo "<form method=\"post\" action=\"{$CFG->wwwroot}/login/index.php\"><input name=\"username\"><input name=\"password\" type=\"password\"></form>";
echo "<footer><span class=\"release\">Moodle " . htmlspecialchars($CFG->release) . "</span> <span class=\"version\">" . htmlspecialchars($CFG->version) . "</span></footer></body></html>";
