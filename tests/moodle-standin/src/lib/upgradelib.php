<?php
// The stand-in's schema, install and upgrade steps. Steps are savepoints committed one by
// one, so a failure leaves the DB half-upgraded, as Moodle's upgrade does.

function standin_id_col() {
    return standin_is_pgsql() ? 'id BIGSERIAL PRIMARY KEY' : 'id BIGINT AUTO_INCREMENT PRIMARY KEY';
}

// Tables every stand-in release has; `bigtext` maps to TEXT on both databases.
function standin_base_tables() {
    return [
        'config' => 'name VARCHAR(255) NOT NULL UNIQUE, value TEXT NOT NULL',
        'config_plugins' => 'plugin VARCHAR(100) NOT NULL, name VARCHAR(100) NOT NULL, value TEXT NOT NULL, UNIQUE (plugin, name)',
        'upgrade_log' => 'type BIGINT NOT NULL, plugin VARCHAR(100), version VARCHAR(100), targetversion VARCHAR(100), info VARCHAR(255) NOT NULL, details TEXT, backtrace TEXT, userid BIGINT NOT NULL DEFAULT 0, timemodified BIGINT NOT NULL',
        'sessions' => 'state BIGINT NOT NULL DEFAULT 0, sid VARCHAR(128) NOT NULL UNIQUE, userid BIGINT NOT NULL, sessdata TEXT, timecreated BIGINT NOT NULL, timemodified BIGINT NOT NULL, firstip VARCHAR(45), lastip VARCHAR(45)',
        'logstore_standard_log' => 'eventname VARCHAR(255) NOT NULL, component VARCHAR(100) NOT NULL, crud CHAR(1) NOT NULL, origin VARCHAR(10), userid BIGINT NOT NULL, courseid BIGINT, timecreated BIGINT NOT NULL, other TEXT',
        'user' => 'username VARCHAR(100) NOT NULL UNIQUE, email VARCHAR(100) NOT NULL, firstname VARCHAR(100) NOT NULL, lastname VARCHAR(100) NOT NULL, timecreated BIGINT NOT NULL',
        'course' => 'fullname VARCHAR(254) NOT NULL, shortname VARCHAR(255) NOT NULL, summary TEXT, timecreated BIGINT NOT NULL',
        'files' => 'contenthash VARCHAR(40) NOT NULL, pathnamehash VARCHAR(40) NOT NULL, filename VARCHAR(255) NOT NULL, filesize BIGINT NOT NULL, userid BIGINT, timecreated BIGINT NOT NULL',
        'forum_posts' => 'discussion BIGINT NOT NULL DEFAULT 0, userid BIGINT NOT NULL, subject VARCHAR(255) NOT NULL, message TEXT NOT NULL, created BIGINT NOT NULL',
        'question_attempt_steps' => 'questionattemptid BIGINT NOT NULL, sequencenumber BIGINT NOT NULL, state VARCHAR(13) NOT NULL, userid BIGINT, timecreated BIGINT NOT NULL',
        'grade_grades_history' => 'action BIGINT NOT NULL, itemid BIGINT NOT NULL, userid BIGINT NOT NULL, finalgrade DECIMAL(10,5), timemodified BIGINT',
    ];
}

// Core upgrade steps: version => [description, schema change]. Each one is a savepoint.
function standin_core_steps() {
    return [
        '2024042203.00' => ['Add course.showactivitydates', ['addcolumn', 'course', 'showactivitydates SMALLINT NOT NULL DEFAULT 0']],
        '2024100700.00' => ['Add table standin_newfeature', ['addtable', 'standin_newfeature', 'name VARCHAR(100) NOT NULL, timecreated BIGINT NOT NULL']],
        '2024100700.01' => ['Default new settings', ['settings', ['enableaitools' => '0', 'coursecommunicationprovider' => 'none']]],
        '2025100600.00' => ['Add forum_posts.privatereplyto', ['addcolumn', 'forum_posts', 'privatereplyto BIGINT NOT NULL DEFAULT 0']],
    ];
}

function standin_apply_change($change) {
    switch ($change[0]) {
        case 'addcolumn':
            db_exec("ALTER TABLE " . t($change[1]) . " ADD COLUMN " . $change[2]);
            break;
        case 'addtable':
            db_exec("CREATE TABLE " . t($change[1]) . " (" . standin_id_col() . ", " . $change[2] . ")");
            break;
        case 'settings':
            foreach ($change[1] as $name => $value) {
                set_config($name, $value);
            }
            break;
    }
}

// The expected schema for a core version: table => sorted column names.
function standin_expected_schema($coreversion) {
    $tables = [];
    foreach (standin_base_tables() as $name => $cols) {
        $tables[$name] = standin_column_names($cols);
    }
    foreach (standin_core_steps() as $version => [$desc, $change]) {
        if (standin_version_cmp($version, $coreversion) > 0) {
            continue;
        }
        if ($change[0] === 'addcolumn') {
            $tables[$change[1]][] = strtok($change[2], ' ');
            sort($tables[$change[1]]);
        } else if ($change[0] === 'addtable') {
            $tables[$change[1]] = standin_column_names($change[2]);
        }
    }
    return $tables;
}

function standin_column_names($cols) {
    $names = ['id'];
    foreach (explode(',', $cols) as $col) {
        $word = strtok(trim($col), ' ');
        if ($word !== 'UNIQUE' && $word !== '' && $word[0] !== ' ' && strpos($word, ')') === false) {
            $names[] = $word;
        }
    }
    $names = array_values(array_unique($names));
    sort($names);
    return $names;
}

function upgrade_log($type, $plugin, $info, $details = null, $version = null, $target = null) {
    db_exec("INSERT INTO " . t('upgrade_log') . " (type, plugin, version, targetversion, info, details, timemodified) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [$type, $plugin, $version, $target, $info, $details, time()]);
}

// Columns a site's local plugin adds to core tables when it is installed (knob
// plugin_adds_columns=<table>.<column>,...). Returns the first malformed entry, or ''.
function standin_add_plugin_columns() {
    foreach (array_filter(array_map('trim', explode(',', (string)standin_knob('plugin_adds_columns', '')))) as $tablecolumn) {
        if (!preg_match('/^([a-z_]+)\.([a-z0-9_]+)$/', $tablecolumn, $m)) {
            return $tablecolumn;
        }
        if (!in_array($m[2], standin_columns($m[1]), true)) {
            db_exec("ALTER TABLE " . t($m[1]) . " ADD COLUMN {$m[2]} VARCHAR(255)");
        }
    }
    return '';
}

function standin_install_tables() {
    $disk = standin_disk_core();
    foreach (standin_base_tables() as $name => $cols) {
        db_exec("CREATE TABLE " . t($name) . " (" . standin_id_col() . ", $cols)");
    }
    foreach (standin_core_steps() as $version => [$desc, $change]) {
        if (standin_version_cmp($version, $disk->version) <= 0) {
            standin_apply_change($change);
        }
    }
    set_config('version', (string)$disk->version);
    set_config('release', $disk->release);
    set_config('branch', $disk->branch);
    foreach (standin_disk_versions() as $component => $version) {
        if ($component !== 'core') {
            set_config('version', (string)$version, $component);
        }
    }
    set_config('allversionshash', standin_versions_hash(standin_disk_versions()));
    set_config('cron_enabled', '1');
    db_exec("INSERT INTO " . t('user') . " (username, email, firstname, lastname, timecreated) VALUES ('admin', 'admin@example.invalid', 'Admin', 'User', ?)", [time()]);
    upgrade_log(0, 'core', 'Core installed', null, (string)$disk->version, (string)$disk->version);
    // A site installed with such a plugin has that drift before any upgrade.
    if ($bad = standin_add_plugin_columns()) {
        cli_error("bad plugin_adds_columns knob '$bad' (table.column)");
    }
}

// The PHP versions each branch accepts, as Moodle's environment check enforces them.
function standin_php_range($branch) {
    $ranges = ['401' => ['7.4', '8.1'], '404' => ['8.1', '8.3'], '405' => ['8.1', '8.3'], '500' => ['8.2', '8.4'], '501' => ['8.2', '8.4']];
    return $ranges[$branch] ?? ['8.1', '8.4'];
}

function standin_environment_problems() {
    $disk = standin_disk_core();
    [$min, $max] = standin_php_range($disk->branch);
    $running = PHP_MAJOR_VERSION . '.' . PHP_MINOR_VERSION;
    $problems = [];
    if (version_compare($running, $min, '<')) {
        $problems[] = "php: version $min is required and you are running $running";
    }
    if (version_compare($running, $max, '>')) {
        $problems[] = "php: version $max is the highest supported and you are running $running";
    }
    foreach (['iconv', 'mbstring', 'curl', 'openssl', 'ctype', 'zip', 'zlib', 'gd', 'simplexml', 'spl', 'pcre', 'dom', 'xml', 'xmlreader', 'intl', 'json', 'hash', 'fileinfo'] as $ext) {
        if (!extension_loaded($ext)) {
            $problems[] = "php_extension: $ext must be installed and enabled";
        }
    }
    foreach (explode(',', (string)standin_knob('required_extensions', '')) as $ext) {
        if ($ext !== '' && !extension_loaded($ext)) {
            $problems[] = "php_extension: $ext must be installed and enabled";
        }
    }
    return $problems;
}
