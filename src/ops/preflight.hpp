#pragma once
// Preflight: every check `plan` prints and every input an operation will need, made before the
// operation creates or changes anything. cutover and rehearse refuse on the first failure;
// plan prints them all: the two cannot disagree.

#include "mupgrade/core/check.hpp"
#include "mupgrade/core/journal.hpp"
#include "mupgrade/core/rehearsal_report.hpp"
#include "mupgrade/ops/site.hpp"
#include "mupgrade/ops/target.hpp"

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace mupgrade::ops {

struct Preflight {
  std::vector<core::CheckResult> checks;
  std::optional<core::SiteState> state;
  std::optional<TargetRelease> release;
  std::optional<core::VersionFile> target;
  std::string live_version, live_release, db_server;
  /// The first failed check as the error a refusing operation throws: a UsageError when the
  /// config or the arguments are at fault.
  void require_passed() const;
};

/// `operation`: cutover or rehearse (rehearse leaves the proxy alone, so it is not checked).
Preflight preflight(Site& site, const std::string& target_override, const std::string& operation);

/// Whether rehearsal `rh` proved the checks for a cutover to `pre`'s target at `now_epoch`: it
/// passed them on this very code, on a copy of the live set taken after the last cutover,
/// within a day. Such a cutover skips them in its window; plan's estimate follows the same rule.
bool rehearsal_proves_checks(const core::RehearsalReport& rh, const Preflight& pre, double now_epoch);

/// Throws a UsageError when the config's pool is not a directory on btrfs: the preflight's
/// pool check, for an operation that acts on the pool without a preflight (prune).
void require_pool(Site& site);
/// The recorded site state; throws when no live set is registered yet.
core::SiteState require_live_set(Site& site);
/// Whether an operation's journal leaves work to do: interrupted, an undo that failed, or
/// steps after its switch that did not end well (the switch stands; they must be finished).
bool unfinished(const core::JournalSummary& j);
/// Throws when the last cutover/rollback journal is unfinished; `fix` says how to finish it.
void refuse_if_interrupted(Site& site, const std::string& fix);

struct Outcome;
class Progress;
/// resume() for a caller that holds the site lock already (rollback).
/// Restores what a killed rehearsal changed on production (DB settings) and removes its clone
/// and throwaway container, from its journal; nothing when the last rehearsal finished.
/// rehearse and prune call it under the site lock.
void finish_interrupted_rehearsal(Site& site, std::ostream& out);
Outcome resume_locked(Site& site, bool dry_run, Progress& progress, std::ostream& out);

}  // namespace mupgrade::ops
