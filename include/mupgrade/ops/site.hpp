#pragma once
// One site's sets at run time: the actions operations take on a set (create, start, stop,
// remove, maintenance, health check), over the ports. Names and paths come from
// core::SetLayout; the DB's questions from ports::Database; nothing here reaches an outside
// system except through `ports()`.

#include "mupgrade/core/moodle_version.hpp"
#include "mupgrade/core/set_layout.hpp"
#include "mupgrade/core/site_config.hpp"
#include "mupgrade/core/site_state.hpp"
#include "mupgrade/moodle/moodle_cli.hpp"
#include "mupgrade/ports/ports.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <string>

namespace mupgrade::ops {

using core::is_clone;
using core::kClonePrefix;
using core::SetPaths;

/// Named waits of the operations.
/// A freshly started set's DB (crash recovery included) and web server.
inline constexpr std::chrono::seconds kDbStartTimeout{120};
inline constexpr std::chrono::seconds kWebStartTimeout{30};
/// A set's cache service loading its dump, and the save of one (Redis BGSAVE).
inline constexpr std::chrono::seconds kCacheStartTimeout{60};
inline constexpr std::chrono::seconds kCacheSaveTimeout{120};
/// One health-check or smoke-test request.
inline constexpr std::chrono::milliseconds kPageTimeout{10000};
/// A stopping container's grace before Docker kills it.
inline constexpr std::chrono::seconds kStopGrace{60};
/// Blue's requests in flight after maintenance-on: the snapshot waits for them this long.
inline constexpr std::chrono::seconds kDrainTimeout{30};
/// A proxy container just started (or pointed at a set) until the set answers through it.
inline constexpr std::chrono::seconds kProxyStartTimeout{30};
/// Copying a code tree that is not a subvolume.
inline constexpr std::chrono::seconds kCopyTimeout{1800};

/// A version.php's contents, parsed; throws naming `where` when $version is not a literal.
core::VersionFile parse_checked_version(const std::string& text, const std::string& where);

/// From the start calls until each part of a set answered.
struct SetStartTimes {
  std::chrono::steady_clock::duration db_ready{};
  /// Until the web server answered, or only until its container ran (WebStart::container).
  std::chrono::steady_clock::duration web_ready{};
  /// What the web server does with an OPcache file cache seed-opcache laid out ("" when none).
  std::string opcache;
};

/// What start_set waits for on the web side: the web server answering, or only its container
/// running (enough for a CLI script such as upgrade.php; wait_web_answering before a page).
enum class WebStart { answering, container };

class Site {
public:
  Site(core::SiteConfig cfg, ports::Ports ports);

  const core::SiteConfig& config() const { return cfg_; }
  const core::SetLayout& layout() const { return layout_; }
  ports::Ports& ports() { return ports_; }

  SetPaths paths(const std::string& set) const { return layout_.paths(set); }
  std::string db_container(const std::string& set) const { return layout_.db_container(set); }
  std::string web_container(const std::string& set) const { return layout_.web_container(set); }
  std::string cache_container(const std::string& set) const { return layout_.cache_container(set); }
  std::string set_network(const std::string& set) const { return layout_.set_network(set); }
  bool set_exists(const std::string& set);

  Secret db_password();
  /// Moodle's table prefix in the set: its config.php's $CFG->prefix (green's and a clone's are
  /// the live set's), else db.prefix of the site config.
  std::string table_prefix(const std::string& set);
  /// $CFG->prefix as the set's config.php sets it (nullopt: not set, or no config.php).
  std::optional<std::string> config_php_prefix(const std::string& set);
  /// The set's DB as this host reaches it (published loopback port; a clone's bridge address).
  ports::DbEndpoint db_endpoint(const std::string& set);
  std::unique_ptr<ports::Proxy> proxy();
  /// Starts the site's proxy container again if it stopped (it ran when the operation began:
  /// an undo that restores service brings it back) and waits for its runtime API.
  void ensure_proxy_running();
  ports::ProxySite proxy_site() const;
  ports::Backend backend(const std::string& set);
  /// Moodle's CLI in the set's web container; the code layout is read from the set's code.
  moodle::MoodleCli cli(const std::string& set);
  core::CodeLayout code_layout(const std::string& code_dir);

  /// The site's network (the proxy's, shared with every set's web container), made when missing;
  /// true when it had to be made.
  bool ensure_site_network();
  /// The proxy's container (image proxy.image, published on the public port on 127.0.0.1, its
  /// config dir mounted), not started: what init and `up` make.
  void create_proxy_container();
  /// The image of the set's web container: the container's own, else the one it was created
  /// with (recorded in <state_dir>/web-images.json at creation), else web.image.
  std::string web_image_of(const std::string& set);
  /// Creates the set's network and its DB and web containers, not started. Done before the
  /// cutover window: the window then only starts them. Their data may not exist yet.
  void create_containers(const std::string& set, const std::string& web_image);
  /// Starts both containers at once and waits until the DB accepts connections and the web
  /// answers (or its container runs). Refuses when the set's data is missing.
  SetStartTimes start_set(const std::string& set, const std::string& web_image, WebStart web = WebStart::answering);
  /// Until the set's web server answers a static file (no PHP, no DB).
  void wait_web_answering(const std::string& set);
  /// Starts the set's containers again if one stopped (a Docker daemon restart stops every
  /// container without a restart policy), with the image its web container has. True when it
  /// had to start them.
  bool ensure_set_running(const std::string& set);
  /// Stops the set's containers and removes its network (a stopped set holds none).
  void stop_set(const std::string& set);
  /// Stops and removes the set's containers and its network; its subvolumes stay.
  void remove_containers(const std::string& set);
  /// Removes the set entirely: containers, network, subvolumes, directory.
  void remove_set(const std::string& set);
  /// Where `image`'s web server keeps an OPcache file cache (its kOpcacheFileCacheLabel);
  /// nothing when it keeps none (a site's own image, say).
  std::optional<std::string> opcache_file_cache_of(const std::string& image);
  /// What a kept OPcache file cache is good for: the set's code (config.php aside, which the
  /// image never caches) and the image's id. "" when the image keeps no file cache.
  std::string opcache_key(const std::string& set, const std::string& image);
  /// Lays out the set's OPcache file cache before its web container is made: a rehearsal's
  /// clone gets an empty one, which it fills as it serves; any other set a snapshot of the one
  /// the last rehearsal kept for the same key, when there is one. Returns what it laid out
  /// ("" when nothing).
  std::string seed_opcache(const std::string& set, const std::string& image);
  /// Keeps the clone's filled file cache under its key (<pool>/opcache/<key>), in place of any
  /// kept before. Returns the kept path ("" when the clone has none).
  std::string keep_opcache(const std::string& clone, const std::string& image);
  /// Before the set's web container starts: a cache seeded from a rehearsal is used only while
  /// the code is as it was when it was seeded (its subvolume's generation); else its marker goes.
  std::string check_seeded_opcache(const std::string& set);
  /// Makes the set's cache service write everything it holds to its data dir (Redis: BGSAVE,
  /// waited for), so a snapshot of that dir carries it. False when the set has no running cache.
  bool save_cache(const std::string& set);
  /// Writes <state_dir>/logs/<name> and returns its path.
  std::string save_log(const std::string& name, const std::string& text) const;
  bool web_running(const std::string& set);
  void delete_if_subvolume(const std::string& path);

  /// Moodle's CLI maintenance switch is the file; writing it from the host takes ~3 ms.
  void maintenance_file(const std::string& set, bool on);
  bool maintenance_file_present(const std::string& set);

  /// A code subvolume at `to` holding the tree `from`: a snapshot when `from` is a subvolume
  /// (constant time), else a copy (reflinks on the same btrfs).
  void lay_out_code(const std::string& from, const std::string& to);
  /// Writes the live set's config.php into `code` (owner, group and mode kept: it holds the DB
  /// password), whatever `code` carried; returns whether it carried one of its own.
  bool install_live_config(const std::string& live_set, const std::string& code);

  /// core version.php of a code tree (root or public/).
  core::VersionFile code_version(const std::string& code_dir);
  /// A row of Moodle's config table in the set's DB ("" when absent).
  std::string db_config_value(const std::string& set, const std::string& name);

  /// http://host:port reaching the set's web container from this host.
  std::string web_url(const std::string& set);
  std::string host_header(const std::string& set) const { return layout_.host_header(set); }
  std::string clone_url() const { return layout_.clone_url(); }
  /// GET <path> straight at the set's web container with its Host header.
  ports::HttpResponse get(const std::string& set, const std::string& path);
  /// GET /login/index.php straight at the set's web container with its Host header: 200 from that set.
  void health_check(const std::string& set);
  /// Waits until the public URL answers 200 from `set` (a proxy just started: kProxyStartTimeout).
  void wait_serving(const std::string& set);
  /// Whether the public URL answers 200 from `set` (what users get now).
  bool serves_publicly(const std::string& set, std::string* seen = nullptr);

  std::optional<core::SiteState> state() const { return core::load_site_state(cfg_.state_dir); }
  void save_state(const core::SiteState& s) const { core::save_site_state(cfg_.state_dir, s); }
  /// A new journal file, recorded under journal/<pointer> (rehearsals keep their own pointer,
  /// so an interrupted rehearsal never blocks a cutover).
  std::string new_journal_path(const std::string& operation, const std::string& pointer = "last") const;
  std::string last_journal_path(const std::string& pointer = "last") const;

  /// The set's containers, web first (the order they stop in).
  std::vector<std::string> containers_of(const std::string& set) const;

private:
  std::string secrets_file();
  void ensure_set_network(const std::string& set);  // internal (no route out) for clones
  void release_set_network(const std::string& set);
  void attach_set_network(const std::string& set);
  void create_db(const std::string& set);
  void create_web(const std::string& set, const std::string& image);
  void create_cache(const std::string& set);
  void wait_cache_ready(const std::string& set);
  std::string redis_cli(const std::string& set, const std::vector<std::string>& args);
  void require_data(const std::string& set);
  void wait_db_ready(const std::string& set);
  core::SiteConfig cfg_;
  core::SetLayout layout_;
  std::map<std::string, std::string> prefixes_;  // per set, read once from its config.php
  ports::Ports ports_;
};

}  // namespace mupgrade::ops
