#pragma once
// `mupgrade init`: a new site from a Moodle code tree in one command. Preflight first (bad
// input changes nothing), then journaled steps (src/ops/steps/init.cpp) whose undo leaves
// nothing behind; an init interrupted by a crash is undone by the next `init` of the site.

#include "mupgrade/ops/operations.hpp"

#include <iosfwd>
#include <string>

namespace mupgrade::ops {

/// What the admin asked for (the command's flags).
struct InitRequest {
  std::string site;
  // The code to install, exactly one source:
  std::string code;        // a Moodle code tree (a subvolume is snapshotted)
  std::string git_repo, git_ref;  // a ref of a local repository (git archive; the repository is not changed)
  std::string image, image_path = "/var/www/html";  // an image's Moodle dir (a throwaway container copies it out)
  std::string db_kind;     // mariadb | postgresql
  std::string url;         // public URL = wwwroot, http://host[:port]
  std::string pool;        // the site's dir on btrfs (config key `pool`)
  std::string state_dir;   // default /var/lib/mupgrade/<site>
  std::string config_file; // default /etc/mupgrade/<site>.yml
  std::string web_image, db_image, proxy_image;  // default: the project's images
  std::string proxy_kind = "haproxy";
  std::string cache_kind, cache_image;  // --cache redis: a Redis per set ("" none); image default kDefaultRedisImage
  std::string prefix = "mdl_";
  std::string fullname, shortname;  // default: "Moodle" and the site name
  Secret admin_password;
  Secret db_password;  // empty: a random one
  bool dry_run = false;
};

/// The site config `init` will write for `req`; throws UsageError naming the bad flag.
core::SiteConfig init_site_config(const InitRequest& req);

struct InitOutcome : Outcome {
  std::string set, release, config_file, public_url, proxy_url;
};

/// Lays out, installs and fronts the site; `out` gets the plan and progress.
InitOutcome init(ports::Ports ports, const InitRequest& req, Progress& progress, std::ostream& out);

/// The site config as an init or adopt journal records it (an undo in a later process reads it back).
nlohmann::json site_config_to_json(const core::SiteConfig& c);
core::SiteConfig site_config_from_json(const nlohmann::json& j);

/// A random password of letters and digits.
std::string random_password(size_t length = 24);

}  // namespace mupgrade::ops
