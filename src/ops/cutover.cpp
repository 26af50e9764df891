// `mupgrade cutover`: preflight first (nothing changes when it refuses), then blue keeps
// serving while green is prepared; then a short window (maintenance on blue, consistent
// snapshots, green started on them with the new code, upgrade.php, checks, health check,
// proxy switch). Any failure before the switch undoes the window: blue serves again (seen
// through the public URL), green is kept for diagnosis.

#include "mupgrade/ops/operations.hpp"
#include "mupgrade/ops/target.hpp"
#include "preflight.hpp"

#include "mupgrade/core/site_lock.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ostream>

namespace mupgrade::ops {

void TextProgress::step_started(const core::Step& s, size_t number, size_t total) {
  out_ << fmt::format("[{:>2}/{}] {:<7} {:<22} ", number, total, core::to_string(s.phase), s.name) << std::flush;
  in_step_ = true;
}

void TextProgress::step_ended(const core::Step&, const core::StepTiming& t) {
  if (in_upgrade_) out_ << "\n" << fmt::format("{:<41}", "");
  in_upgrade_ = in_step_ = false;
  out_ << fmt::format("{:>8.3f} s  {}\n", t.seconds, t.outcome) << std::flush;
}

void TextProgress::upgrade_component(double seconds, const std::string& component) {
  in_upgrade_ = true;
  out_ << fmt::format("\n          {:>7.1f} s  {}", seconds, component) << std::flush;
}

// A note from inside a step goes under the step's line, indented like upgrade.php's progress.
void TextProgress::note(const std::string& line) {
  if (!in_step_) {
    out_ << line << "\n" << std::flush;
    return;
  }
  in_upgrade_ = true;
  out_ << "\n          " << line << std::flush;
}

core::RunResult run_steps(core::JournalWriter& journal, const StepContext& ctx, const std::vector<core::Step>& steps, Progress& progress,
                          const nlohmann::json& extra_args) {
  core::Executor ex(journal);
  size_t n = 0;
  ex.on_step = [&](const core::Step& s, const core::StepTiming* t) {
    if (t) progress.step_ended(s, *t);
    else progress.step_started(s, ++n, steps.size());
  };
  nlohmann::json args = ctx.to_json();
  args["steps"] = nlohmann::json::array();
  for (const auto& s : steps) args["steps"].push_back(s.name);
  args.update(extra_args);
  return ex.run(ctx.operation, args, steps);
}

namespace {

bool switched(const std::vector<core::StepTiming>& timings) {
  for (const auto& t : timings)
    if (t.name == step::switch_proxy && t.outcome == "ok") return true;
  return false;
}

}  // namespace

Outcome cutover(Site& site, const CutoverOptions& opts, Progress& progress, std::ostream& out) {
  const auto& cfg = site.config();
  double started = epoch_seconds_now();
  Outcome o;
  o.operation = "cutover";
  core::SiteLock lock(cfg.lock_path(), cfg.site, "mupgrade cutover");
  refuse_if_interrupted(site, "run 'mupgrade cutover --resume' (or 'mupgrade rollback') to finish it first");
  auto pre = preflight(site, opts.target_code, "cutover");
  pre.require_passed();
  StepContext ctx;
  ctx.blue = pre.state->live_set;
  ctx.target_code = pre.release->code_dir;
  ctx.green = core::make_set_id(pre.target->release, core::utc_compact_now());
  ctx.remove_failed_green = opts.remove_failed_green;
  ctx.progress = &progress;
  // What the last rehearsal proved on this very code, on a copy of today's live set (taken
  // after the last cutover, within a day), is not proved again in the window: its checks (two
  // PHP runs, 4-8 s on real Moodle). upgrade.php's own verdict and the health check still decide.
  if (auto rh = last_rehearsal(cfg); rh && rehearsal_proves_checks(*rh, pre, started)) ctx.facts["checks_proven_by"] = rh->started_at;
  o.blue = ctx.blue;
  o.green = ctx.green;
  if (site.set_exists(ctx.green)) throw Error(fmt::format("set {} exists already", ctx.green), "wait a second and retry");

  auto steps = compose_steps(site, ctx);
  // Its pages too: green's first page then comes right after the switch (green-first-page).
  if (ctx.facts.contains("checks_proven_by") &&
      std::any_of(steps.begin(), steps.end(), [](const core::Step& s) { return s.name == step::green_first_page; }))
    ctx.first_page_after_switch = true;
  out << fmt::format("cutover of {}: {} ({}) -> {} ({})\n", cfg.site, ctx.blue, pre.live_release, ctx.green, pre.target->release);
  if (opts.dry_run) {
    out << "steps (undo on failure before the switch):\n" << core::render_plan(steps);
    o.ok = true;
    return o;
  }
  extract_target(site, *pre.release, progress);
  core::JournalWriter journal(site.new_journal_path("cutover"));
  o.journal = journal.path();
  auto result = run_steps(journal, ctx, steps, progress);
  o.take(result);
  o.switched = switched(result.timings);
  if (!o.ok && !o.switched) o.blue_serving = site.serves_publicly(ctx.blue, &o.serving_detail);
  o.record = record_of(site, o, started);
  report_outcome(site, *o.record, progress);
  return o;
}

}  // namespace mupgrade::ops
