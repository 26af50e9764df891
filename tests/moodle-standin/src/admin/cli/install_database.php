<?php
// Stand-in of admin/cli/install_database.php: tables for an existing config.php.
define('CLI_SCRIPT', true);
define('STANDIN_NO_TABLES_NEEDED', true);
require(__DIR__ . '/../../config.php');
require_once($CFG->dirroot . '/lib/upgradelib.php');
[$options, $unrecognised] = cli_get_params(['lang' => 'en', 'adminuser' => 'admin', 'adminpass' => '', 'adminemail' => '',
    'agree-license' => false, 'fullname' => '', 'shortname' => '', 'summary' => '', 'supportemail' => '', 'help' => false], ['h' => 'help']);
cli_reject_unrecognised($unrecognised);
if (!$options['agree-license']) {
    cli_error("You must agree to the license by specifying --agree-license");
}
if (standin_table_exists('config')) {
    cli_error("Database tables already present; CLI installation cannot continue.");
}
standin_install_tables();
standin_build_theme();  // the stand-in's simplification: a new site's first page is not cold
echo "Installation completed successfully.\n";
exit(0);
