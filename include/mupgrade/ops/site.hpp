#pragma once
// One site's sets on this host: naming and layout conventions, and the adapter calls that
// operations (cutover, rollback, status, plan) are made of.
//
// A set <id> is <pool>/sets/<id>/{db,moodledata,code} plus containers
// mupgrade-<site>-<id>-{db,web} on the set's own network mupgrade-<site>-<id>, where the DB
// answers to the alias "db" (so config.php's dbhost is 'db' in every set). The web container
// also joins the site network, where the proxy reaches it.

#include "mupgrade/core/moodle_version.hpp"
#include "mupgrade/core/site_config.hpp"
#include "mupgrade/core/site_state.hpp"
#include "mupgrade/db/sql_client.hpp"
#include "mupgrade/docker/docker_engine.hpp"
#include "mupgrade/http/http_client.hpp"
#include "mupgrade/moodle/moodle_cli.hpp"
#include "mupgrade/proxy/proxy.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace mupgrade::ops {

/// Rehearsal clones are sets whose id starts with this; they live under <pool>/clones/, on an
/// internal network (no route out, nothing published), off the proxy's network.
inline constexpr const char* kClonePrefix = "clone-";
/// A clone's wwwroot host: reserved, never resolves, never mistaken for production.
inline constexpr const char* kCloneHost = "mupgrade-clone.invalid";
bool is_clone(const std::string& set);

/// How long a freshly started set may take to answer (DB crash recovery included).
inline constexpr std::chrono::seconds kSetStartTimeout{120};

struct SetPaths {
  std::string dir, db, moodledata, code;
};

/// Rows written through the web since a watermark, per probe table.
/// A version.php's contents, parsed; throws naming `where` when $version is not a literal.
core::VersionFile parse_checked_version(const std::string& text, const std::string& where);

/// From the start calls until each part of a set answered.
struct SetStartTimes {
  std::chrono::steady_clock::duration db_ready{};
  std::chrono::steady_clock::duration web_ready{};
};

struct WriteCount {
  long logstore_writes = 0;  // logstore rows with crud c/u/d from web or ws
  nlohmann::json per_table = nlohmann::json::object();  // table -> new rows
  long total() const;
  std::string describe() const;
};

class Site {
public:
  Site(core::SiteConfig cfg, docker::DockerEngine& engine);

  const core::SiteConfig& config() const { return cfg_; }
  docker::DockerEngine& engine() { return engine_; }

  SetPaths paths(const std::string& set) const;
  std::string db_container(const std::string& set) const;
  std::string web_container(const std::string& set) const;
  std::string set_network(const std::string& set) const;
  bool set_exists(const std::string& set) const;

  Secret db_password() const;
  db::Endpoint db_endpoint(const std::string& set);
  std::unique_ptr<proxy::Proxy> proxy();
  proxy::ProxySite proxy_site() const;
  proxy::Backend backend(const std::string& set);
  moodle::MoodleCli cli(const std::string& set);

  /// Creates the set's network and its DB and web containers, not started. Done before the
  /// cutover window: the window then only starts them. Their data may not exist yet.
  void create_containers(const std::string& set, const std::string& web_image);
  /// Starts (creating when missing) the set's DB and waits until it accepts connections.
  void start_db(const std::string& set, const std::string& image = {});
  /// Starts (creating when missing) the set's web container and waits for Apache to answer.
  void start_web(const std::string& set, const std::string& image);
  /// Starts both containers at once and waits until the DB accepts connections and the web
  /// answers. Refuses when the set's data is missing.
  SetStartTimes start_set(const std::string& set, const std::string& web_image);
  void stop_set(const std::string& set);
  /// Stops and removes the set's containers and its network; its subvolumes stay.
  void remove_containers(const std::string& set);
  /// Removes the set entirely: containers, network, subvolumes, directory.
  void remove_set(const std::string& set);
  /// Writes <state_dir>/logs/<name> and returns its path.
  std::string save_log(const std::string& name, const std::string& text) const;
  bool web_running(const std::string& set);

  /// Moodle's CLI maintenance switch is the file; writing it from the host takes ~3 ms.
  void maintenance_file(const std::string& set, bool on);
  bool maintenance_file_present(const std::string& set) const;

  /// core version.php of a code tree (root or public/).
  core::VersionFile code_version(const std::string& code_dir) const;
  std::string db_config_value(const std::string& set, const std::string& name);

  nlohmann::json watermark(const std::string& set);
  WriteCount writes_since(const std::string& set, const nlohmann::json& watermark);

  /// http://host:port reaching the set's web container from this host.
  std::string web_url(const std::string& set);
  /// The Host header the set's Moodle expects: the public one, or the clone's.
  std::string host_header(const std::string& set) const;
  /// wwwroot of a rehearsal clone.
  std::string clone_url() const;
  /// GET <path> straight at the set's web container with its Host header.
  http::Response get(const std::string& set, const std::string& path);
  /// GET /login/index.php straight at the set's web container with its Host header: 200 from that set.
  void health_check(const std::string& set);

  std::optional<core::SiteState> state() const { return core::load_site_state(cfg_.state_dir); }
  void save_state(const core::SiteState& s) const { core::save_site_state(cfg_.state_dir, s); }
  /// A new journal file, recorded under journal/<pointer> (rehearsals keep their own pointer,
  /// so an interrupted rehearsal never blocks a cutover).
  std::string new_journal_path(const std::string& operation, const std::string& pointer = "last") const;
  std::string last_journal_path(const std::string& pointer = "last") const;

private:
  std::string secrets_file() const;
  void ensure_set_network(const std::string& set);  // internal (no route out) for clones
  void create_db(const std::string& set, const std::string& image = {});
  void create_web(const std::string& set, const std::string& image);
  void require_data(const std::string& set) const;
  void wait_db_ready(const std::string& set);
  void wait_web_ready(const std::string& set);
  core::SiteConfig cfg_;
  docker::DockerEngine& engine_;
};

}  // namespace mupgrade::ops
