#pragma once
// The user-facing operations, each a plan of journaled steps run under the site lock.

#include "mupgrade/core/executor.hpp"
#include "mupgrade/core/retention.hpp"
#include "mupgrade/core/rehearsal_report.hpp"
#include "mupgrade/ops/site.hpp"

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace mupgrade::ops {

struct CutoverOptions {
  std::string target_code;   // overrides the config's target.code
  bool dry_run = false;      // print the plan, change nothing
  bool remove_failed_green = false;  // on failure, delete green instead of keeping it for diagnosis
};

struct RollbackOptions {
  bool discard_writes = false;  // roll back although green holds writes made since the cutover
  bool dry_run = false;
};

struct RehearseOptions {
  std::string target_code;  // overrides the config's target.code
  bool keep = false;        // keep the clone (stopped) instead of removing it
  bool dry_run = false;
};

struct PruneOptions {
  bool dry_run = false;
};

/// Exit code of an operation: 0 ok, 1 failed (blue serving again unless said otherwise).
int cutover(Site& site, const CutoverOptions& opts, std::ostream& out);
int rollback(Site& site, const RollbackOptions& opts, std::ostream& out);
/// Finishes or undoes an operation interrupted by a crash, from its journal.
int resume(Site& site, std::ostream& out);
int status(Site& site, bool json, std::ostream& out);
int plan(Site& site, const std::string& target_override, bool json, std::ostream& out);
/// Upgrades an isolated clone of production; writes a report and the Prometheus textfile.
int rehearse(Site& site, const RehearseOptions& opts, std::ostream& out);
/// Removes old sets, clones and reports by the site's retention policy.
int prune(Site& site, const PruneOptions& opts, std::ostream& out);
/// The newest rehearsal report, if any.
std::optional<core::RehearsalReport> last_rehearsal(const core::SiteConfig& cfg);
/// Every rehearsal report file, newest first.
std::vector<std::string> rehearsal_report_files(const core::SiteConfig& cfg);

/// Registers an existing set as live (first use of mupgrade on a site).
int adopt(Site& site, const std::string& set, std::ostream& out);

/// Prints "[ n/N] phase  step ... seconds" as the executor goes.
void attach_progress(core::Executor& ex, size_t total, std::ostream& out);

}  // namespace mupgrade::ops
