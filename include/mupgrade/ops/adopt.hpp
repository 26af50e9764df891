#pragma once
// `mupgrade adopt --from <compose project | container>`: brings a running Docker or Compose
// Moodle stack under mupgrade. Discovery reads the stack (containers, mounts, config.php, the
// DB) and refuses what it cannot do safely; the dry run prints the plan; `--yes` copies the
// data into the first set while the site serves, then a short final pass with the old stack in
// maintenance and stopped, starts the set behind the proxy and leaves the old stack stopped and
// untouched. `adopt --undo` brings the old stack back (src/ops/steps/adopt.cpp: the steps).

#include "mupgrade/core/kinds.hpp"
#include "mupgrade/core/secret.hpp"
#include "mupgrade/ops/operations.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace mupgrade::ops {

/// What the admin asked for (the command's flags).
struct AdoptRequest {
  std::string from;         // a Compose project name, or a web container's name
  std::string site;         // default: `from`
  std::string pool;         // default /srv/mupgrade-pool/<site>
  std::string state_dir;    // default /var/lib/mupgrade/<site>
  std::string config_file;  // default /etc/mupgrade/<site>.yml
  std::string web_image, db_image, proxy_image;  // default: the stack's where they fit, else the project's
  std::string proxy_kind = "haproxy";
  bool yes = false;  // without it: the dry run, nothing changed

  nlohmann::json to_json() const;  // the flags, journaled: a recovery names them again
  static AdoptRequest from_json(const nlohmann::json& j);
};

/// Where adopt's journal pointer is: <state_dir>/journal/<this> (its own: a later cutover never hides it).
inline constexpr const char* kAdoptJournalPointer = "adopt";

/// One place of the stack's data: where it is in its container and on this host.
struct StackData {
  std::string container_path;  // e.g. /bitnami/moodledata
  std::string host_path;       // what is copied, e.g. /var/lib/docker/volumes/x/_data ("" for kInImage)
  std::string mount;           // "volume NAME", "bind", or kInImage
  std::uint64_t bytes = 0;
  /// The data is in the web container's own files (built into its image, plus its writable
  /// layer), in no volume or bind mount: it is copied out of the container.
  static constexpr const char* kInImage = "image";
  bool in_image() const { return mount == kInImage; }
};

/// What discovery found about a running stack. No secret in it: it is printed and journaled.
struct StackFacts {
  std::string from, project;  // project "" for a lone container
  std::string web, db;        // container names
  std::string web_image, db_image;
  core::DbKind kind = core::DbKind::mariadb;
  std::string server_version;
  std::string dbtype, dbhost, dbname, dbuser, prefix, wwwroot, dataroot;
  StackData code, moodledata, db_data;
  unsigned web_uid = 0;  // the owner of moodledata: the user PHP writes as
  // The DB data dir's owner in the set, when the set's DB image runs as another user than the
  // stack's files belong to (the copy is chowned); 0: the stack's owners are kept.
  unsigned db_uid = 0, db_gid = 0;
  // The stack's Redis, when Moodle keeps sessions or MUC caches in it ("" when none): it becomes
  // the set's cache service; its dump file `redis_dump` in cache_data is copied in the window.
  std::string redis, redis_host, redis_image, redis_dump;
  bool redis_sessions = false;  // config.php's session handler is Redis
  bool redis_muc = false;       // moodledata's muc/config.php has a Redis store on redis_host
  StackData cache_data;
  unsigned cache_uid = 0, cache_gid = 0;  // the set's cache image's Redis user: the dump's owner
  std::string code_version, db_version, release;
  int public_port = 0;   // host port the stack's web is published on (the proxy takes it over)
  bool web_image_fits = false;   // it reads MOODLE_WEBROOT and MOODLE_HTTP_PORT (README: what an image must offer)
  bool db_image_fits = false;    // it keeps its data where the engine's official image does
  std::string mupgrade_db_user;  // who mupgrade connects as (a superuser when the stack's env names one)
  std::vector<std::string> notes;  // what the admin should know (images replaced, privileges)

  nlohmann::json to_json() const;
  static StackFacts from_json(const nlohmann::json& j);
};

/// Discovery's result: the facts and the secrets read from the stack (kept apart).
struct Discovery {
  StackFacts facts;
  Secret moodle_db_password;    // $CFG->dbpass: goes into the set's config.php only
  Secret mupgrade_db_password;  // for facts.mupgrade_db_user: goes to <state_dir>/db_password (0600)
  Secret redis_auth;            // the stack's Redis password (config.php's or the MUC store's): asked to save, never stored
  std::string config_php;       // the stack's config.php, as read
};

/// Finds the stack's web and DB containers and reads what adopt needs; throws UsageError (no
/// such project or container) or Error naming what it cannot adopt safely. Changes nothing.
Discovery discover_stack(ports::Ports ports, const std::string& from);

/// The set's config.php: the stack's own, with the DB host and dataroot of a mupgrade set
/// appended before lib/setup.php is required (the last assignment wins in PHP); with
/// `redis_sessions`, the session Redis is the set's cache service ("cache", no password).
std::string adopted_config_php(const std::string& original, bool redis_sessions = false);

/// moodledata's muc/config.php for the set: every Redis store on `host` points at the set's
/// cache service ("cache", no password); the rest as it was.
std::string adopted_muc_config(const std::string& original, const std::string& host);

/// The Redis hosts a muc/config.php's Redis stores name (first server of each, no port).
std::vector<std::string> muc_redis_hosts(const std::string& muc_config);

/// The password of the first Redis store on `host` in a muc/config.php that sets one; empty: none.
std::string muc_redis_password(const std::string& muc_config, const std::string& host);

/// What the final pass does to the set's copy of code built into the image, from the stopped
/// web container's changes to its image's files (Containers::container_changes): the paths
/// (relative to `code_dir`, the code's path in the container) to copy out of the container
/// again, each top-most one once (an added dir whole, not each file in it; a dir below the code
/// dir's own subdirs with many changes under it, a replaced plugin, whole too), and those to
/// remove from the set, both in path order. A dir listed modified only because of what is
/// listed below it is left to those; config.php is never in either (the set has its own).
struct CodeDelta {
  std::vector<std::string> copy, remove;
};
CodeDelta code_delta(const std::vector<ports::FileChange>& changes, const std::string& code_dir);

/// What adopt's steps need besides the site config (StepContext::adopt; never journaled: the
/// config.php holds Moodle's DB password).
struct AdoptInputs {
  StackFacts facts;
  std::string config_php;  // the set's config.php
  Secret redis_auth;       // the stack's Redis password (Discovery::redis_auth): the final pass asks it to save
};

struct AdoptOutcome : Outcome {
  bool dry_run = false;
  std::string site, set, config_file, public_url, proxy_url;
  double downtime_s = 0;  // maintenance on in the old stack until the set served through the proxy
};

/// The dry run (default) or the adoption (`req.yes`). `out` gets the plan and progress.
AdoptOutcome adopt_from(ports::Ports ports, const AdoptRequest& req, Progress& progress, std::ostream& out);

/// The command that adopts again with the flags `req` holds (`--yes`; a flag left empty is
/// left out, so its default applies again), shell-quoted where needed.
std::string adopt_command(const AdoptRequest& req);
/// The command that undoes the adoption of `site` whose state is in `state_dir`.
std::string adopt_undo_command(const std::string& site, const std::string& state_dir);

/// The last adoption a state dir's journal recorded (its path and summary); nullopt when none.
std::optional<std::pair<std::string, core::JournalSummary>> last_adoption(const std::string& state_dir);

/// An adoption in `state_dir` that did not finish, read from what adopt writes before the site
/// config: its journal, or (killed before the journal) the lock it held. Outcome "running"
/// while its lock is held; else `recovery` names the commands that recover it (the undo, and
/// adopt again, which undoes it first). nullopt when there is none (none begun, or the adopted
/// site is live).
std::optional<OperationStatus> unfinished_adoption(const std::string& state_dir);

/// `status` of a site that has no config yet: an adoption killed before it wrote the config,
/// found in `state_dir` (site, public URL and config path from its journal; `site` when killed
/// before the journal). nullopt when `state_dir` holds no unfinished adoption.
std::optional<StatusReport> unconfigured_status(const std::string& state_dir, const std::string& site);

/// Stops the adopted set and brings the old stack back, serving with its data; removes what
/// adopt made (set, proxy, site config, state). `state_dir` holds the adoption's journal.
AdoptOutcome adopt_undo(ports::Ports ports, const std::string& site, const std::string& state_dir, Progress& progress,
                        std::ostream& out);

}  // namespace mupgrade::ops
