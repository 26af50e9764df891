#pragma once
// The command line: parse, dispatch to one command, print errors once.

#include "mupgrade/core/site_config.hpp"

#include <string>
#include <vector>

namespace mupgrade::cli {

/// Exit codes, documented in README.md.
enum ExitCode : int {
  kOk = 0,
  kFailed = 1,      // the operation failed or a check did not pass
  kUsage = 2,       // bad arguments or config: nothing was changed
  kBusy = 3,        // another operation holds the site's lock: nothing was changed
};

/// What each exit code means: `--help`, mupgrade(8) and the README say the same.
struct ExitCodeDoc {
  int code;
  const char* meaning;
};
inline constexpr ExitCodeDoc kExitCodes[] = {
    {kOk, "success; every check passed"},
    {kFailed, "the operation failed or a check did not pass (the message names it and the fix)"},
    {kUsage, "bad arguments or config: nothing was changed"},
    {kBusy, "another operation holds the site's lock: nothing was changed"},
};

/// "0.1.0" and the build (git describe at build time), e.g. "0.1.0 (build 76f9334)".
const char* version();
const char* version_and_build();

int run(int argc, char** argv);

/// The site config named by --config FILE or --site NAME (exactly one of them).
struct DoctorOptions {
  std::string config, site;  // a site whose config gives the values not passed as flags
  std::string docker_socket = "/var/run/docker.sock";
  std::string pool = "/srv/mupgrade-pool";
  bool pool_given = false;
  std::vector<std::string> images;
  bool images_given = false;  // else the project's images, or the site's
  std::string db_container;
  std::string proxy_container;
  std::string public_url;
  std::string public_host;
  bool json = false;
};

int doctor(const DoctorOptions& opts);

struct ProxyInitOptions {
  std::string config, site;  // a site whose config gives the values not passed as flags
  bool kind_given = false, port_given = false;
  std::string kind = "haproxy";
  std::string config_dir;
  std::string backend_name;
  std::string backend_host;
  int backend_port = 80;
};

struct SiteOptions {
  std::string config;
  std::string site;
  std::string state_dir;  // status: where an adoption that wrote no config yet is looked for
  std::string docker_socket = "/var/run/docker.sock";
  std::string target;
  bool target_given = false;  // --target was passed (an empty value is refused, not ignored)
  std::string set;
  bool json = false;
  bool dry_run = false;
  bool resume = false;
  bool discard_writes = false;
  bool remove_failed_green = false;
  bool keep = false;
};

struct InitOptions {
  std::string site, code, db, url, pool, state_dir, config;
  std::string git, ref, image, image_path = "/var/www/html";  // the other code sources
  std::string web_image, db_image, proxy_image;
  std::string cache, cache_image;  // --cache redis: a Redis per set
  std::string proxy = "haproxy";
  std::string prefix = "mdl_";
  std::string fullname;
  std::string admin_password_file;
  std::string docker_socket = "/var/run/docker.sock";
  bool dry_run = false;
};

/// adopt: --from a running stack, --undo, or --set (a site command).
struct AdoptOptions {
  SiteOptions site;  // --config, --site, --docker-socket, --json, --set
  std::string from, pool, state_dir, web_image, db_image, proxy_image;
  std::string proxy = "haproxy";
  bool undo = false, yes = false, dry_run = false;
};
int adopt(const AdoptOptions& opts);

/// A new site from a Moodle code tree, a git ref or an image.
int init(const InitOptions& opts);

/// The site config of --config FILE or --site NAME (exactly one), with its playbooks.
core::SiteConfig load_site_config(const std::string& config, const std::string& site);

/// plan, cutover, rollback, status, up, adopt.
int site_command(const std::string& command, const SiteOptions& opts);

/// Writes the proxy's first config, pointing at the site's current web container.
int proxy_init(const ProxyInitOptions& opts);

}  // namespace mupgrade::cli
