<?php
// Stand-in of admin/cli/cfg.php: read or write one setting.
define('CLI_SCRIPT', true);
require(__DIR__ . '/../../config.php');
[$options, $unrecognised] = cli_get_params(['help' => false, 'component' => null, 'name' => null, 'set' => null,
    'unset' => false, 'json' => false, 'shell-arg' => false, 'no-eol' => false], ['h' => 'help']);
cli_reject_unrecognised($unrecognised);
if ($options['help'] || $options['name'] === null || $options['name'] === true) {
    echo "Displays the current value of the given site setting.\n\nUsage: php admin/cli/cfg.php --name=NAME [--component=C] [--set=VALUE | --unset] [--json]\n";
    exit(2);
}
$component = $options['component'] ?? 'core';
$name = $options['name'];
if ($options['set'] !== null || $options['unset']) {
    if ($component === 'core' && in_array($name, $CFG->hardset, true)) {
        cli_error("The configuration option is hard-set in the config.php, unable to change.", 4);
    }
    set_config($name, $options['unset'] ? null : (string)$options['set'], $component);
    exit(0);
}
if ($component === 'core' && in_array($name, $CFG->hardset, true)) {
    $value = $CFG->$name;
} else {
    $value = get_config_value($name, $component);
}
if ($value === null) {
    cli_error("No such setting.", 3);
}
echo $options['json'] ? json_encode($value) : $value;
echo $options['no-eol'] ? '' : "\n";
exit(0);
