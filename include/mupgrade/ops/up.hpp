#pragma once
// `mupgrade up`: after a reboot, a Docker daemon restart or reinstall, or containers removed by
// someone, brings the site back from its subvolumes and <state_dir>/site.json: the live set,
// the rollback target (idle, in maintenance, as cutover leaves it), the networks and the proxy,
// made by the same code as cutover and init make them; then the public URL is seen answering
// from the live set. Idempotent: when everything runs and serves it changes nothing.

#include "mupgrade/ops/operations.hpp"

#include <iosfwd>
#include <string>
#include <vector>

namespace mupgrade::ops {

struct UpOptions {
  bool dry_run = false;  // say what would be done, change nothing
};

/// One thing `up` looks after, as found and what it does (or would do) about it.
struct UpItem {
  std::string what;    // "site network", "live set's web container", "proxy container", ...
  std::string name;    // the Docker object or file
  std::string found;   // running | stopped | missing | present | "points at X" | "HTTP 200 from 'X'" ...
  std::string action;  // none | start | create | install | switch
  nlohmann::json to_json() const { return {{"what", what}, {"name", name}, {"found", found}, {"action", action}}; }
};

struct UpOutcome : Outcome {
  std::vector<UpItem> items;
  bool changed = false;   // something was (or, with --dry-run, would be) made, started or pointed
  bool dry_run = false;
  bool serving = false;   // the public URL answered 200 from the live set at the end
  double seconds = 0;     // the whole command, lock to verdict
  std::string rollback_note;  // why the rollback target is not brought back (it is gone)
  nlohmann::json to_json() const;
};

/// What `up` finds, read-only: each network, container, the proxy's config and the public URL.
std::vector<UpItem> survey_up(Site& site, const std::string& live, const std::string& rollback);

UpOutcome up(Site& site, const UpOptions& opts, Progress& progress, std::ostream& out);

}  // namespace mupgrade::ops
