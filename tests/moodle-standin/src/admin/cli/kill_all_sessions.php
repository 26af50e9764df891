<?php
// Stand-in of admin/cli/kill_all_sessions.php.
define('CLI_SCRIPT', true);
require(__DIR__ . '/../../config.php');
[$options, $unrecognised] = cli_get_params(['help' => false], ['h' => 'help']);
cli_reject_unrecognised($unrecognised, 2);
db_exec("DELETE FROM " . t('sessions'));
exit(0);
