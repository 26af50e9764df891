// `mupgrade cutover`: blue keeps serving while green is prepared; then a short window
// (maintenance on blue, consistent snapshots, green started on them with the new code,
// upgrade.php, checks, health check, proxy switch). Any failure before the switch undoes
// the window: blue serves again, green is kept for diagnosis.

#include "mupgrade/ops/plans.hpp"
#include "preflight.hpp"
#include "mupgrade/ops/target.hpp"
#include "mupgrade/ops/operations.hpp"

#include "mupgrade/core/site_lock.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <ostream>

namespace mupgrade::ops {

namespace fs = std::filesystem;

void attach_progress(core::Executor& ex, size_t total, std::ostream& out) {
  auto n = std::make_shared<size_t>(0);
  ex.on_step = [&out, n, total](const core::Step& s, const core::StepTiming* t) {
    if (!t) {
      ++*n;
      out << fmt::format("[{:>2}/{}] {:<7} {:<22} ", *n, total, core::to_string(s.phase), s.name) << std::flush;
    } else {
      out << fmt::format("{:>8.3f} s  {}\n", t->seconds, t->outcome) << std::flush;
    }
  };
}


int cutover(Site& site, const CutoverOptions& opts, std::ostream& out) {
  const auto& cfg = site.config();
  auto state = require_live_set(site);
  core::SiteLock lock(cfg.lock_path(), cfg.site, "mupgrade cutover");
  refuse_if_interrupted(site, "run 'mupgrade cutover --resume' (or 'mupgrade rollback') to finish it first");
  CutoverContext ctx;
  ctx.blue = state.live_set;
  auto release = resolve_target(site, opts.target_code);
  auto target = target_version(site, release);
  ctx.target_code = release.code_dir;
  ctx.green = core::make_set_id(target.release, core::utc_compact_now());
  ctx.remove_failed_green = opts.remove_failed_green;
  ctx.out = &out;
  if (site.set_exists(ctx.green)) throw Error(fmt::format("set {} exists already", ctx.green), "wait a second and retry");

  auto steps = cutover_steps(site, ctx);
  out << fmt::format("cutover of {}: {} ({}) -> {} ({})\n", cfg.site, ctx.blue, state.live_release, ctx.green, target.release);
  if (opts.dry_run) {
    out << "steps (undo on failure before the switch):\n" << core::render_plan(steps);
    return 0;
  }
  extract_target(site, release, out);
  core::JournalWriter journal(site.new_journal_path("cutover"));
  core::Executor ex(journal);
  attach_progress(ex, steps.size(), out);
  auto result = ex.run("cutover", ctx.to_json(), steps);
  out << "\n" << core::render_timings(result.timings, result.window_seconds);
  if (result.ok) {
    out << fmt::format("\ncutover done: {} is live; {} is kept, idle, as the rollback target ('mupgrade rollback').\n", ctx.green, ctx.blue);
    return 0;
  }
  out << fmt::format("\ncutover FAILED at step '{}': {}\n", result.failed_step, result.error);
  for (const auto& f : result.undo_failures) out << "  undo failed: " << f << "\n";
  bool switched = false;
  for (const auto& t : result.timings) switched = switched || (t.name == "switch-proxy" && t.outcome == "ok");
  if (switched)
    out << fmt::format("traffic already goes to {}: check it, or run 'mupgrade rollback' to go back to {}.\n", ctx.green, ctx.blue);
  else
    out << fmt::format("{} serves again (maintenance off, cron on). Green set {} is {} (journal: {}).\n", ctx.blue, ctx.green,
                       ctx.remove_failed_green ? "removed" : "kept for diagnosis", journal.path());
  return 1;
}

}  // namespace mupgrade::ops
