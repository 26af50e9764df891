<?php
// Who the request's session belongs to: "user: <username>" or "user: guest" (no session, or
// one the session store does not know).
require(__DIR__ . '/../../config.php');
standin_require_upgraded();
$userid = standin_session_user();
$name = $userid ? db_value("SELECT username FROM " . t('user') . " WHERE id = ?", [$userid]) : null;
echo 'user: ' . ($name ?: 'guest') . "\n";
