// `mupgrade rollback`: traffic back to blue in about a second. Blue's DB and moodledata are
// as they were at the snapshot, so writes made on green since the cutover stay behind on
// green: rollback measures them first and refuses without --discard-writes.

#include "mupgrade/ops/plans.hpp"

#include "mupgrade/core/site_lock.hpp"
#include "mupgrade/ops/operations.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <ostream>

namespace mupgrade::ops {

namespace fs = std::filesystem;
using core::Phase;
using core::Step;
using nlohmann::json;

int rollback(Site& site, const RollbackOptions& opts, std::ostream& out) {
  const auto& cfg = site.config();
  core::SiteLock lock(cfg.lock_path(), cfg.site, "mupgrade rollback");
  if (auto last = site.last_journal_path(); !last.empty() && fs::exists(last)) {
    auto j = core::read_journal(last);
    if (!j.finished) {
      out << "the last operation was interrupted: finishing it from its journal first\n";
      int rc = resume(site, out);
      const auto* sw = j.find("switch-proxy");
      bool switched = sw && sw->ended && sw->outcome == "ok";
      // An interrupted rollback that was undone is what the admin asked to redo: go on.
      if (rc != 0 || j.operation != "rollback" || switched) return rc;
      out << "now rolling back again\n";
    }
  }
  auto state = site.state();
  if (!state || state->rollback_set.empty())
    throw Error(fmt::format("site {} has no rollback target", cfg.site), "rollback is possible after a cutover, until the next one");
  std::string from = state->live_set, to = state->rollback_set;
  if (!site.set_exists(to)) throw Error(fmt::format("the rollback target {} no longer exists", to), "nothing to roll back to");

  auto writes = site.writes_since(from, state->watermark);
  out << fmt::format("rollback of {}: {} -> {}\n", cfg.site, from, to);
  if (writes.total() > 0) {
    out << fmt::format("{} holds writes made since the cutover at {}: {}.\n", from, state->cutover_at, writes.describe());
    out << fmt::format("Rolling back leaves them behind on {} (kept, not deleted); {} has the data as it was at the cutover.\n", from, to);
    if (!opts.discard_writes)
      throw Error(fmt::format("refusing to roll back: {} writes would be left behind on {}", writes.total(), from),
                  "rerun with --discard-writes to go back anyway (green is kept, so they can still be recovered by hand)");
  } else {
    out << fmt::format("no writes on {} since the cutover: nothing is left behind.\n", from);
  }
  if (opts.dry_run) return 0;
  auto steps = rollback_steps(site, from, to);
  core::JournalWriter journal(site.new_journal_path("rollback"));
  core::Executor ex(journal);
  attach_progress(ex, steps.size(), out);
  auto result = ex.run("rollback", {{"from", from}, {"to", to}, {"writes_left_behind", writes.total()}}, steps);
  out << "\n" << core::render_timings(result.timings, result.window_seconds);
  if (!result.ok) {
    out << fmt::format("\nrollback FAILED at step '{}': {}\n", result.failed_step, result.error);
    return 1;
  }
  out << fmt::format("\nrollback done: {} is live again; {} is stopped and kept.\n", to, from);
  return 0;
}

}  // namespace mupgrade::ops
