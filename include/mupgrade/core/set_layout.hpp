#pragma once
// Where a site's sets live and what they are called: the one place that knows the
// conventions. Pure: it computes names and paths, it looks at nothing.
//
// A set <id> is <pool>/sets/<id>/{db,moodledata,code} (rehearsal clones: <pool>/clones/<id>)
// plus containers mupgrade-<site>-<id>-{db,web} on the set's own network mupgrade-<site>-<id>,
// where the DB answers to the alias "db" (so config.php's dbhost is 'db' in every set). A site
// with a cache service adds <id>/cache and mupgrade-<site>-<id>-cache, alias "cache". The
// web container also joins the site network, where the proxy reaches it.

#include "mupgrade/core/site_config.hpp"

#include <map>
#include <string>

namespace mupgrade::core {

/// Rehearsal clones are sets whose id starts with this; they live under <pool>/clones/, on an
/// internal network (no route out, nothing published), off the proxy's network.
/// What the switch fetches through the public URL to see which set answers: a static file
/// every Moodle tree serves from its web root (4.x and, under public/, 5.1), answered by the web
/// server in milliseconds with the set's X-Mupgrade-Set header, where the front page is a full
/// PHP render (1-6 s on real Moodle under load).
inline constexpr const char* kSwitchProbePath = "/pix/moodlelogo.svg";
inline constexpr const char* kClonePrefix = "clone-";
/// A clone's wwwroot host: reserved (RFC 2606), never resolves, never mistaken for production.
inline constexpr const char* kCloneHost = "mupgrade-clone.invalid";
bool is_clone(const std::string& set);

/// Where the code and moodledata sit inside a set's web container.
inline constexpr const char* kContainerCodeRoot = "/var/www/moodle";
inline constexpr const char* kContainerMoodledata = "/var/www/moodledata";
/// Moodle's CLI maintenance switch: this file in moodledata.
inline constexpr const char* kMaintenanceFile = "climaintenance.html";
/// A web image with this label keeps OPcache's compiled scripts in a file cache mounted at the
/// label's path, when the cache holds kOpcacheFreshMarker (containers/web/entrypoint): the
/// rehearsal's clone fills one as it serves, and green starts from a snapshot of it.
inline constexpr const char* kOpcacheFileCacheLabel = "mupgrade.opcache-file-cache";
/// Written by mupgrade into a cache it has just laid out for a set's code; the web container
/// takes it away when it starts, so a later start (after someone edited the code) never loads
/// the kept scripts.
inline constexpr const char* kOpcacheFreshMarker = ".mupgrade-fresh";

struct SetPaths {
  std::string dir, db, moodledata, code;
  /// The set's cache service's data dir (Redis's dump.rdb), when the site has one (config `cache`).
  std::string cache;
  /// A snapshot of blue's moodledata that verify-target's throwaway container may write to.
  std::string verify_moodledata() const { return dir + "/verify-moodledata"; }
  std::string maintenance_file() const { return moodledata + "/" + kMaintenanceFile; }
  /// OPcache's file cache of the set's code (a subvolume: the clone's is kept by snapshot).
  std::string opcache() const { return dir + "/opcache"; }
};

/// Whether a code tree uses Moodle 5.1's public/ web root, decided once from where its
/// version.php is; every path into the code follows from it.
struct CodeLayout {
  bool public_dir = false;
  /// version.php relative to the code root.
  std::string version_file() const { return public_dir ? "public/version.php" : "version.php"; }
  /// The web server's document root inside the container.
  std::string web_root(const std::string& code_root = kContainerCodeRoot) const {
    return public_dir ? code_root + "/public" : code_root;
  }
  /// An admin/cli script relative to the code root.
  std::string cli_script(const std::string& name) const {
    return (public_dir ? "public/admin/cli/" : "admin/cli/") + name + ".php";
  }
};

class SetLayout {
public:
  explicit SetLayout(const SiteConfig& cfg) : cfg_(cfg) {}

  SetPaths paths(const std::string& set) const;
  std::string db_container(const std::string& set) const;
  std::string web_container(const std::string& set) const;
  /// The set's cache service (config `cache`).
  std::string cache_container(const std::string& set) const;
  /// verify-target's throwaway container for green.
  std::string verify_container(const std::string& set) const;
  std::string set_network(const std::string& set) const;
  /// mupgrade.site, mupgrade.set and (when given) mupgrade.role.
  std::map<std::string, std::string> labels(const std::string& set, const std::string& role = {}) const;
  /// wwwroot of a rehearsal clone: production's scheme, port and path on kCloneHost.
  std::string clone_url() const;
  /// The Host header the set's Moodle expects: the public one, or the clone's.
  std::string host_header(const std::string& set) const;
  /// The port the DB listens on inside its container.
  int db_port() const;
  /// Where the DB keeps its data inside its container.
  std::string db_data_dir() const;

private:
  const SiteConfig& cfg_;
};

}  // namespace mupgrade::core
