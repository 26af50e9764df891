<?php
// Login page; shows the release the DB reports, so a check can tell sets apart.
require(__DIR__ . '/../config.php');
standin_require_upgraded();
// Knob login_status: the page fails as a PHP fatal error does on real Moodle (HTTP 500), for
// tests of what mupgrade does when a set cannot render.
if ($status = (int)standin_knob('login_status', '0')) {
    http_response_code($status);
    echo "standin: login page broken by knob login_status\n";
    exit(0);
}
// A POST with an existing username logs in (the stand-in checks no password): a session in
// the configured store and its MoodleSession cookie, as Moodle's login does.
if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    $userid = (int)db_value("SELECT id FROM " . t('user') . " WHERE username = ?", [(string)($_POST['username'] ?? '')]);
    if (!$userid) {
        http_response_code(403);
        echo "Invalid login\n";
        exit(0);
    }
    standin_session_start($userid);
    echo "logged in\n";
    exit(0);
}
// A rendered page fills the MUC caches (a Redis store when muc/config.php maps one).
standin_muc_set('core', 'string', 'loginsite', 'Log in to the site');
echo "<!DOCTYPE html><html><head><title>Log in to the site</title></head><body>";
echo "<form method=\"post\" action=\"{$CFG->wwwroot}/login/index.php\"><input name=\"username\"><input name=\"password\" type=\"password\"></form>";
echo "<footer><span class=\"release\">Moodle " . htmlspecialchars($CFG->release) . "</span> <span class=\"version\">" . htmlspecialchars($CFG->version) . "</span></footer></body></html>";
