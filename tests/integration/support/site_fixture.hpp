#pragma once
// A whole site for operation tests: a blue set on the stand-in (4.4.1) with its DB installed,
// an HAProxy (or nginx) in front, the same config as a YAML file for the binary, adopted as live.

#include "fixtures.hpp"

#include "mupgrade/db/sql_client.hpp"
#include "mupgrade/ops/site.hpp"

#include <memory>
#include <string>
#include <vector>

namespace mupgrade::itest {

struct LifecycleSite {
  core::SiteConfig cfg;
  std::string config_file;
  std::string blue;
  std::string releases;
  std::unique_ptr<ops::Site> site;

  /// A release laid out (once) as a subvolume under the site's releases dir.
  std::string release(const std::string& rel, const std::vector<std::string>& knobs = {}, const std::vector<std::string>& release_args = {});
  /// The release the proxy serves, from the login page ("HTTP n" when it does not answer 200).
  std::string served_release();
  /// The steps `operation` runs on this site, in order.
  std::vector<std::string> step_names(const std::string& operation);
};

/// Deletes a whole pool dir (nested subvolumes first) and the site's containers and networks.
struct SiteCleanup {
  std::string pool, state, site;
  ~SiteCleanup();
};

/// How the blue site differs from a plain stand-in 4.4.1.
struct SiteOptions {
  std::string prefix = "mdl_";                // $CFG->prefix of its config.php
  std::vector<std::string> blue_knobs;        // the blue release's knobs (e.g. plugin_adds_columns=...)
  std::vector<std::string> blue_release_args; // make-release arguments (e.g. --add-plugin local_extra)
  /// A Redis per set (config `cache`), with config.php's sessions in it and a Redis MUC store
  /// in moodledata/muc/config.php, as Moodle's docs configure them.
  bool redis = false;
  core::ProxyKind proxy = core::ProxyKind::haproxy;  // the proxy in front (config `proxy.kind`)
};

/// `extra_yaml` is appended to the site's YAML config file (for the binary).
std::unique_ptr<LifecycleSite> make_site(SiteCleanup& cleanup, db::Kind kind, int port, const std::string& extra_yaml = "",
                                         const SiteOptions& opts = {});

/// Runs the mupgrade binary with `args`; stdout and stderr into *out.
int run_binary(const std::string& args, std::string* out);

}  // namespace mupgrade::itest
