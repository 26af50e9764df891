<?php
// Sessions and the Redis MUC store, as real Moodle keeps them (read from 4.5.6's
// lib/classes/session/redis.php and cache/stores/redis/lib.php).
//
// Sessions: PHP's files handler under dataroot/sessions (Moodle's default), or Redis when
// config.php sets $CFG->session_handler_class = '\core\session\redis', in database
// session_redis_database of session_redis_host:session_redis_port, every value through
// phpredis' PHP serializer. From 4.5 (MDL-66151): a hash <session_redis_prefix>session_<sid>
// (id, state, sid, userid, sessdata, timecreated, timemodified, firstip, lastip) and a hash
// <prefix>user_<userid> (sid => timecreated), expiring after $CFG->sessiontimeout. Before 4.5
// (4.3's redis.php): Redis held only the data, a string <prefix><sid> (SETEX), and the record
// was a row of {sessions}; 4.5's code does not read that shape, and its upgrade converts none.
// MUC: a store of plugin 'redis' in dataroot/muc/config.php keeps each definition in one hash
// named md5("<mode> <component> <area>") under the store's prefix; a purge DELetes those hashes
// (never FLUSHDB), so sessions in the same Redis survive every cache purge.

const STANDIN_SESSION_COOKIE = 'MoodleSession';
// The definitions the stand-in caches in a MUC store (mode 1: application).
const STANDIN_MUC_DEFINITIONS = [['core', 'string'], ['core', 'config']];

function standin_session_is_redis() {
    global $CFG;
    return ltrim($CFG->session_handler_class ?? '', '\\') === 'core\\session\\redis';
}

function standin_session_redis() {
    global $CFG;
    if (empty($CFG->session_redis_host)) {
        throw new Exception('$CFG->session_redis_host must be specified in config.php');
    }
    $redis = new Redis();
    $redis->connect($CFG->session_redis_host, (int)($CFG->session_redis_port ?? 6379), 3);
    if (!empty($CFG->session_redis_auth)) {
        $redis->auth($CFG->session_redis_auth);
    }
    $redis->setOption(Redis::OPT_SERIALIZER, Redis::SERIALIZER_PHP);
    if (($CFG->session_redis_prefix ?? '') !== '') {
        $redis->setOption(Redis::OPT_PREFIX, $CFG->session_redis_prefix);
    }
    if ((int)($CFG->session_redis_database ?? 0) !== 0) {
        $redis->select((int)$CFG->session_redis_database);
    }
    return $redis;
}

function standin_session_file($sid) {
    global $CFG;
    return $CFG->dataroot . '/sessions/sess_' . $sid;
}

function standin_session_timeout() {
    global $CFG;
    return (int)($CFG->sessiontimeout ?? 28800);
}

/** True when the code keeps Redis sessions in 4.5's shape (a hash per session). */
function standin_session_redis_hashes() {
    return (float)standin_disk_core()->version >= 2024100700;
}

/** Starts a session for $userid; sends its cookie; returns the sid. */
function standin_session_start($userid) {
    $sid = bin2hex(random_bytes(16));
    $now = time();
    $ip = $_SERVER['REMOTE_ADDR'] ?? '0.0.0.0';
    $data = 'USER|' . serialize((object)['id' => $userid]);
    if (standin_session_is_redis() && standin_session_redis_hashes()) {
        $redis = standin_session_redis();
        $redis->hMSet('session_' . $sid, ['id' => $sid, 'state' => '0', 'sid' => $sid, 'userid' => $userid, 'sessdata' => $data,
            'timecreated' => $now, 'timemodified' => $now, 'firstip' => $ip, 'lastip' => $ip]);
        $redis->expire('session_' . $sid, standin_session_timeout());
        $redis->hSet('user_' . $userid, $sid, $now);
        $redis->expire('user_' . $userid, standin_session_timeout());
    } else if (standin_session_is_redis()) {
        db_exec("INSERT INTO " . t('sessions') . " (state, sid, userid, timecreated, timemodified, firstip, lastip) VALUES (0, ?, ?, ?, ?, ?, ?)",
            [$sid, $userid, $now, $now, $ip, $ip]);
        standin_session_redis()->setex($sid, standin_session_timeout(), $data);
    } else {
        @mkdir(dirname(standin_session_file($sid)), 02777, true);
        file_put_contents(standin_session_file($sid), json_encode(['userid' => $userid, 'timecreated' => $now]));
    }
    setcookie(STANDIN_SESSION_COOKIE, $sid, 0, '/');
    return $sid;
}

/** The user id of the request's session, 0 when it has none (a guest). */
function standin_session_user() {
    $sid = $_COOKIE[STANDIN_SESSION_COOKIE] ?? '';
    if (!preg_match('/^[0-9a-f]{32}$/', $sid)) {
        return 0;
    }
    if (standin_session_is_redis() && standin_session_redis_hashes()) {
        // 4.5 reads the record and the data from the hash: without its data, no user.
        $keys = standin_session_redis()->hMGet('session_' . $sid, ['userid', 'sessdata']);
        return is_string($keys['sessdata']) && $keys['sessdata'] !== '' ? (int)$keys['userid'] : 0;
    }
    if (standin_session_is_redis()) {
        // Before 4.5: the record in {sessions}, the data in Redis; both or no user.
        if (!is_string(standin_session_redis()->get($sid))) {
            return 0;
        }
        return (int)db_value("SELECT userid FROM " . t('sessions') . " WHERE sid = ?", [$sid]);
    }
    $file = standin_session_file($sid);
    if (!is_file($file) || filemtime($file) < time() - standin_session_timeout()) {
        return 0;
    }
    return (int)(json_decode(file_get_contents($file), true)['userid'] ?? 0);
}

/** The Redis stores of dataroot/muc/config.php, connected, with their prefixes set. */
function standin_muc_redis_stores() {
    global $CFG;
    $file = $CFG->dataroot . '/muc/config.php';
    if (!is_file($file)) {
        return [];
    }
    $configuration = [];
    if (!defined('MOODLE_INTERNAL')) {
        define('MOODLE_INTERNAL', true);
    }
    include($file);
    $stores = [];
    foreach ($configuration['stores'] ?? [] as $store) {
        if (($store['plugin'] ?? '') !== 'redis') {
            continue;
        }
        $redis = new Redis();
        $server = explode(':', trim(explode("\n", $store['configuration']['server'])[0]));
        $redis->connect($server[0], (int)($server[1] ?? 6379), 3);
        if (!empty($store['configuration']['password'])) {  // cachestore_redis' 'password'
            $redis->auth($store['configuration']['password']);
        }
        if (!empty($store['configuration']['prefix'])) {
            $redis->setOption(Redis::OPT_PREFIX, $store['configuration']['prefix']);
        }
        $stores[] = $redis;
    }
    return $stores;
}

function standin_muc_hash($component, $area) {
    return md5("1 {$component} {$area}");
}

/** Puts one key of a definition in every Redis store (what a page render would cache). */
function standin_muc_set($component, $area, $key, $value) {
    foreach (standin_muc_redis_stores() as $redis) {
        $redis->hSet(standin_muc_hash($component, $area), $key, $value);
    }
}

/** As cache_helper::purge_all: each definition's hash, in every Redis store. */
function standin_muc_purge() {
    foreach (standin_muc_redis_stores() as $redis) {
        foreach (STANDIN_MUC_DEFINITIONS as [$component, $area]) {
            $redis->del(standin_muc_hash($component, $area));
        }
    }
}
