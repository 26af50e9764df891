// `mupgrade rollback`: traffic back to blue. Blue's DB and moodledata are as they were at the
// snapshot, so writes made on green since the cutover stay behind on green: rollback
// measures them first and refuses without --discard-writes.

#include "mupgrade/ops/operations.hpp"
#include "preflight.hpp"

#include "mupgrade/core/atomic_file.hpp"
#include "mupgrade/core/site_lock.hpp"

#include <fmt/format.h>

#include <ostream>

namespace mupgrade::ops {

namespace {

Outcome rollback_locked(Site& site, const RollbackOptions& opts, Progress& progress, std::ostream& out) {
  const auto& cfg = site.config();
  double started = epoch_seconds_now();
  Outcome o;
  o.operation = "rollback";
  auto state = site.state();
  if (!state || state->rollback_set.empty())
    throw UsageError(fmt::format("site {} has no rollback target", cfg.site), "rollback is possible after a cutover, until the next one");
  StepContext ctx;
  ctx.operation = "rollback";
  ctx.green = state->live_set;
  ctx.blue = state->rollback_set;
  ctx.progress = &progress;
  o.blue = ctx.blue;
  o.green = ctx.green;
  if (!site.set_exists(ctx.blue)) throw Error(fmt::format("the rollback target {} no longer exists", ctx.blue), "nothing to roll back to");

  auto writes = site.ports().db.writes_since(site.db_endpoint(ctx.green), state->watermark);
  out << fmt::format("rollback of {}: {} -> {}\n", cfg.site, ctx.green, ctx.blue);
  if (writes.total() > 0) {
    out << fmt::format("{} holds writes made since the cutover at {}: {}.\n", ctx.green, state->cutover_at, writes.describe(site.table_prefix(ctx.green)));
    out << fmt::format("Rolling back leaves them behind on {} (kept, not deleted); {} has the data as it was at the cutover.\n", ctx.green, ctx.blue);
    if (!opts.discard_writes)
      throw Error(fmt::format("refusing to roll back: {} writes would be left behind on {}", writes.total(), ctx.green),
                  "rerun with --discard-writes to go back anyway (green is kept, so they can still be recovered by hand)");
  } else {
    out << fmt::format("no writes on {} since the cutover: nothing is left behind.\n", ctx.green);
  }
  ctx.writes_left_behind = writes.total();
  ctx.discard_writes = opts.discard_writes;
  ctx.watermark = state->watermark;
  auto steps = compose_steps(site, ctx);
  if (opts.dry_run) {
    out << "steps:\n" << core::render_plan(steps);
    o.ok = true;
    return o;
  }
  // The proxy is checked before anything moves: a dead proxy fails here, not half-way.
  site.proxy()->check_ready();
  core::JournalWriter journal(site.new_journal_path("rollback"));
  o.journal = journal.path();
  auto result = run_steps(journal, ctx, steps, progress);
  o.take(result);
  if (o.ok && ctx.writes_left_behind > writes.total())
    out << fmt::format("{} more writes reached {} before it went into maintenance; left behind there in all: {}.\n",
                       ctx.writes_left_behind - writes.total(), ctx.green, ctx.facts.value("left_behind", ""));
  o.record = record_of(site, o, started);
  report_outcome(site, *o.record, progress);
  return o;
}

}  // namespace

Outcome rollback(Site& site, const RollbackOptions& opts, Progress& progress, std::ostream& out) {
  const auto& cfg = site.config();
  core::SiteLock lock(cfg.lock_path(), cfg.site, "mupgrade rollback");
  if (auto last = site.last_journal_path(); !last.empty() && core::read_state_file(last)) {
    auto j = core::read_journal(last);
    if (unfinished(j)) {
      if (opts.dry_run) throw Error(fmt::format("the last operation ({}) was interrupted", j.operation), "run 'mupgrade rollback' (without --dry-run) to finish it first");
      out << "the last operation was interrupted: finishing it from its journal first\n";
      auto r = resume_locked(site, false, progress, out);
      // An interrupted rollback that was undone is what the admin asked to redo: go on. One
      // finished from its switch on is done.
      if (!r.ok || j.operation != "rollback" || r.switched) return r;
      out << "now rolling back again\n";
    }
  }
  return rollback_locked(site, opts, progress, out);
}

}  // namespace mupgrade::ops
