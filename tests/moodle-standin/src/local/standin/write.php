<?php
// A page that writes, as a user posting would: one logstore row and one forum post. ?tag=T
// (letters, digits, -) becomes the post's subject, so a tester can find each acknowledged write.
require(__DIR__ . '/../../config.php');
standin_require_upgraded();
$subject = preg_match('/^[A-Za-z0-9-]{1,60}$/', $_GET['tag'] ?? '') ? $_GET['tag'] : 'Stand-in post';
standin_log_event('\\mod_forum\\event\\post_created', 'c', 'web', 2, 1);
db_exec("INSERT INTO " . t('forum_posts') . " (userid, subject, message, created) VALUES (?, ?, ?, ?)",
    [2, $subject, 'Written through the web at ' . date('c'), time()]);
$id = standin_is_pgsql() ? db_value("SELECT currval(pg_get_serial_sequence('" . t('forum_posts') . "', 'id'))") : db_value("SELECT LAST_INSERT_ID()");
echo "ok $id\n";
