#pragma once
// A site as its admin describes it (read from YAML by src/config/), validated once.

#include "mupgrade/core/kinds.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mupgrade::core {

/// Below this much free space in the pool, doctor and plan fail: a set needs room for the
/// blocks that change after its snapshots.
inline constexpr unsigned long long kMinPoolFreeBytes = 2ULL << 30;

struct DbConfig {
  DbKind kind = DbKind::mariadb;
  std::string image;             // default: engine_of(kind).image
  std::string name = "moodle";
  std::string user;              // default: engine_of(kind).user
  std::string password_file;     // one of password_file / password_env
  std::string password_env;
  /// Moodle's $CFG->prefix when the site's config.php sets none; the live config.php's value is
  /// what every query uses. Given in the site config, it must agree with config.php (preflight).
  std::string prefix = "mdl_";
  bool prefix_given = false;      // db.prefix was in the site config
  bool relaxed_durability = true;  // green's DB runs upgrade.php without fsync; restored before the switch (README)
};

struct ProxyConfig {
  ProxyKind kind = ProxyKind::haproxy;
  std::string container;
  std::string config_dir;
  std::string url;  // loopback URL that reaches the proxy, e.g. http://127.0.0.1:18080
  std::string image;  // its container's image, for init and `up` (default by kind)
};

/// A step of the site's own, run at a named point of a playbook (config key `steps`).
struct SiteStep {
  std::string name;
  std::string where;                    // file:line, for messages
  std::string anchor;                   // a playbook step name
  bool before = false;                  // before the anchor (else after it)
  std::vector<std::string> operations;  // cutover and/or rehearse
  std::string kind;                     // cfg (cfg.php on green) | exec (in green's web container) | host
  std::vector<std::pair<std::string, std::string>> settings;  // kind cfg: name=value
  std::vector<std::string> command;                           // kind exec / host
  int timeout_s = 600;
};

/// The ordered step names of one operation (playbooks/<operation>.yml).
struct Playbook {
  std::string operation;           // cutover | rehearse | rollback
  std::string source;              // file (or "built-in playbooks/x.yml") for messages
  std::vector<std::string> steps;  // built-in step names, in order
};

/// A per-set cache service (config key `cache`): each set runs its own container of it, on the
/// set's network under the alias "cache", its data in the set's `cache` subvolume, so green's
/// upgrade and purges never reach blue's, and sessions kept in it travel with the snapshot.
struct CacheConfig {
  std::string kind;   // "" (none) | redis
  std::string image;  // default kDefaultRedisImage
  bool enabled() const { return !kind.empty(); }
};
inline constexpr const char* kDefaultRedisImage = "mupgrade/redis:7.0";
/// The alias a set's cache answers to on the set's network (config.php: session_redis_host).
inline constexpr const char* kCacheAlias = "cache";

struct RehearseConfig {
  std::string prometheus_textfile;       // default <state_dir>/metrics/mupgrade.prom
  std::vector<std::string> smoke_paths;  // extra GETs on the clone, e.g. a public pluginfile URL
};

struct RetentionConfig {
  int keep_sets = 3;            // live and rollback target included
  int keep_clones = 1;          // kept rehearsal clones (--keep)
  int keep_reports = 60;
  int max_report_age_days = 90;
  unsigned long long min_free_bytes = 2ULL << 30;  // below it, prune removes the oldest removable sets/clones
};

struct SiteConfig {
  std::string file;  // where it was read from, for messages
  std::string site;
  std::string public_url;   // $CFG->wwwroot
  std::string public_host;  // Host header the proxy receives (host[:port] of public_url)
  std::string pool;         // btrfs dir holding sets/<id>/{db,moodledata,code}
  std::string state_dir;    // journal, lock, site.json
  std::string network;      // the proxy's network, shared with every set's web container
  DbConfig db;
  std::string web_image;
  int web_port = 80;        // the port the web container listens on (= public port, see README)
  ProxyConfig proxy;
  CacheConfig cache;
  std::string target_code;   // directory (or subvolume) holding the target release's code
  std::string target_git_repo, target_git_ref;  // or: a ref of a local clone/mirror of Moodle
  std::string target_image;  // web image for the target (defaults to web_image)
  std::string target_image_code;  // or: the code comes from target_image, at this path in it
  int upgrade_timeout_s = 3600;
  int cron_drain_timeout_s = 120;
  // purge_caches.php after upgrade.php (upgrade.purge_caches). Off: upgrade.php purges every
  // cache itself and, from Moodle 4.4, builds the theme last; a purge after it made the first
  // page on green cold (seconds on real Moodle).
  bool purge_caches_after_upgrade = false;
  RetentionConfig retention;
  RehearseConfig rehearse;
  std::string playbooks_dir;  // site's own playbooks/<operation>.yml; empty = the built-in ones
  std::vector<std::pair<std::string, std::string>> after_upgrade_settings;  // cfg.php name=value
  std::vector<SiteStep> steps;
  std::map<std::string, Playbook> playbooks;  // operation -> its playbook (loaded with the config)

  std::string lock_path() const { return state_dir + "/lock"; }
  std::string sets_dir() const { return pool + "/sets"; }
  std::string clones_dir() const { return pool + "/clones"; }
  /// OPcache file caches the last rehearsal's clone filled, one per code fingerprint.
  std::string opcache_dir() const { return pool + "/opcache"; }
  std::string reports_dir() const { return state_dir + "/rehearsals"; }
  std::string textfile() const { return rehearse.prometheus_textfile.empty() ? state_dir + "/metrics/mupgrade.prom" : rehearse.prometheus_textfile; }
};

/// Host[:port] of a URL: "http://a.b:8080/x" -> "a.b:8080". Empty when it is not http(s).
std::string host_of_url(const std::string& url);

}  // namespace mupgrade::core
