<?php
// Stand-in of admin/cli/install.php: writes config.php, then installs the tables.
define('CLI_SCRIPT', true);
$dirroot = dirname(__DIR__, 2);
$root = basename($dirroot) === 'public' ? dirname($dirroot) : $dirroot;
require_once($dirroot . '/lib/standinlib.php');
[$options, $unrecognised] = cli_get_params(['chmod' => '2777', 'lang' => 'en', 'wwwroot' => '', 'dataroot' => '',
    'dbtype' => 'mariadb', 'dbhost' => 'localhost', 'dbname' => 'moodle', 'dbuser' => 'root', 'dbpass' => '',
    'dbport' => '', 'dbsocket' => '', 'prefix' => 'mdl_', 'fullname' => '', 'shortname' => '', 'summary' => '',
    'adminuser' => 'admin', 'adminpass' => '', 'adminemail' => '', 'non-interactive' => false,
    'agree-license' => false, 'allow-unstable' => false, 'skip-database' => false, 'help' => false], ['h' => 'help']);
cli_reject_unrecognised($unrecognised);
if ($options['help']) {
    echo "Command line Moodle installer, creates config.php and the database.\n";
    exit(0);
}
if (file_exists($root . '/config.php')) {
    cli_error("Can not continue: config.php already exists.");
}
foreach (['wwwroot', 'dataroot', 'adminpass'] as $required) {
    if ($options[$required] === '') {
        cli_error("Missing required option --$required");
    }
}
if (!$options['agree-license']) {
    cli_error("You must agree to the license by specifying --agree-license");
}
if (!is_dir($options['dataroot']) && !@mkdir($options['dataroot'], 02777, true)) {
    cli_error("Can not create dataroot {$options['dataroot']}");
}
$export = function ($v) { return var_export($v, true); };
$config = "<?php  // Moodle configuration file\n\nunset(\$CFG);\nglobal \$CFG;\n\$CFG = new stdClass();\n\n"
    . "\$CFG->dbtype    = {$export($options['dbtype'])};\n"
    . "\$CFG->dblibrary = 'native';\n"
    . "\$CFG->dbhost    = {$export($options['dbhost'])};\n"
    . "\$CFG->dbname    = {$export($options['dbname'])};\n"
    . "\$CFG->dbuser    = {$export($options['dbuser'])};\n"
    . "\$CFG->dbpass    = {$export($options['dbpass'])};\n"
    . "\$CFG->prefix    = {$export($options['prefix'])};\n"
    . "\$CFG->dboptions = array('dbpersist' => 0, 'dbport' => {$export($options['dbport'])}, 'dbsocket' => '');\n\n"
    . "\$CFG->wwwroot   = {$export($options['wwwroot'])};\n"
    . "\$CFG->dataroot  = {$export($options['dataroot'])};\n"
    . "\$CFG->admin     = 'admin';\n\n"
    . "\$CFG->directorypermissions = 02777;\n\n"
    . "require_once(__DIR__ . '/lib/setup.php');\n\n"
    . "// There is no php closing tag in this file,\n// it is intentional because it prevents trailing whitespace problems!\n";
if (@file_put_contents($root . '/config.php', $config) === false) {
    cli_error("Can not write config.php to $root (is the code directory writable?)");
}
if ($options['skip-database']) {
    exit(0);
}
define('STANDIN_NO_TABLES_NEEDED', true);
require($root . '/config.php');
require_once($CFG->dirroot . '/lib/upgradelib.php');
if (standin_table_exists('config')) {
    cli_error("Database tables already present; CLI installation cannot continue.");
}
standin_install_tables();
set_config('fullname', $options['fullname'] ?: 'Stand-in site');
echo "Installation completed successfully.\n";
exit(0);
