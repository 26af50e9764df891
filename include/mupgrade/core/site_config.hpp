#pragma once
// A site as its admin describes it (read from YAML by src/config/), validated once.

#include <optional>
#include <string>
#include <vector>

namespace mupgrade::core {

/// Below this much free space in the pool, doctor and plan fail: a set needs room for the
/// blocks that change after its snapshots.
inline constexpr unsigned long long kMinPoolFreeBytes = 2ULL << 30;

struct DbConfig {
  std::string kind = "mariadb";  // mariadb | postgresql
  std::string image;             // default per kind
  std::string name = "moodle";
  std::string user;              // default per kind (root | postgres)
  std::string password_file;     // one of password_file / password_env
  std::string password_env;
  bool relaxed_durability = false;  // green's DB runs upgrade.php without fsync; restored before the switch
};

struct ProxyConfig {
  std::string kind = "haproxy";  // haproxy | nginx
  std::string container;
  std::string config_dir;
  std::string url;  // loopback URL that reaches the proxy, e.g. http://127.0.0.1:18080
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
  std::string target_code;   // directory (or subvolume) holding the target release's code
  std::string target_image;  // web image for the target (defaults to web_image)
  int upgrade_timeout_s = 3600;
  int cron_drain_timeout_s = 120;
  int keep_sets = 3;
  std::vector<std::pair<std::string, std::string>> after_upgrade_settings;  // cfg.php name=value

  std::string lock_path() const { return state_dir + "/lock"; }
  std::string sets_dir() const { return pool + "/sets"; }
};

/// Host[:port] of a URL: "http://a.b:8080/x" -> "a.b:8080". Empty when it is not http(s).
std::string host_of_url(const std::string& url);

}  // namespace mupgrade::core
