#pragma once
// The user-facing operations, each a plan of journaled steps run under the site lock.

#include "mupgrade/core/executor.hpp"
#include "mupgrade/ops/site.hpp"

#include <iosfwd>
#include <string>

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

/// Exit code of an operation: 0 ok, 1 failed (blue serving again unless said otherwise).
int cutover(Site& site, const CutoverOptions& opts, std::ostream& out);
int rollback(Site& site, const RollbackOptions& opts, std::ostream& out);
/// Finishes or undoes an operation interrupted by a crash, from its journal.
int resume(Site& site, std::ostream& out);
int status(Site& site, bool json, std::ostream& out);
int plan(Site& site, const std::string& target_override, bool json, std::ostream& out);
/// Registers an existing set as live (first use of mupgrade on a site).
int adopt(Site& site, const std::string& set, std::ostream& out);

/// Prints "[ n/N] phase  step ... seconds" as the executor goes.
void attach_progress(core::Executor& ex, size_t total, std::ostream& out);

}  // namespace mupgrade::ops
