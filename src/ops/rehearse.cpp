// `mupgrade rehearse`: the cutover's steps on an isolated clone of production, which keeps
// serving (its DB is frozen only for the snapshot instant). Writes a JSON report, a human
// summary and a Prometheus textfile; a failure exits 1 naming the step and component.

#include "mupgrade/ops/operations.hpp"
#include "mupgrade/ops/plans.hpp"
#include "mupgrade/ops/target.hpp"
#include "preflight.hpp"

#include "mupgrade/core/atomic_file.hpp"
#include "mupgrade/core/site_lock.hpp"

#include <fmt/format.h>

#include <ostream>

namespace mupgrade::ops {

using nlohmann::json;

std::vector<std::string> rehearsal_report_files(const core::SiteConfig& cfg) {
  return core::state_files(cfg.reports_dir(), ".json");  // names start with the UTC time: newest first
}

namespace {

// The newest report that `want` accepts; damaged reports are skipped.
std::optional<core::RehearsalReport> newest_report(const core::SiteConfig& cfg, bool (*want)(const core::RehearsalReport&)) {
  for (const auto& f : rehearsal_report_files(cfg)) {
    try {
      auto r = core::RehearsalReport::from_json(json::parse(core::read_state_file(f).value_or("")));
      if (want(r)) return r;
    } catch (const json::exception&) {
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<core::RehearsalReport> last_rehearsal(const core::SiteConfig& cfg) {
  return newest_report(cfg, [](const core::RehearsalReport&) { return true; });
}

namespace {

double epoch_now() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

double last_success_epoch(const core::SiteConfig& cfg) {
  auto r = newest_report(cfg, [](const core::RehearsalReport& x) { return x.ok; });
  return r ? r->started_epoch : 0;
}

}  // namespace

// A rehearsal killed mid-way leaves its clone and maybe production's DB settings changed:
// restore them from the journal, remove the clone, close the journal.
void finish_interrupted_rehearsal(Site& site, std::ostream& out) {
  std::string last = site.last_journal_path("last-rehearse");
  if (last.empty() || !core::read_state_file(last)) return;
  auto j = core::read_journal(last);
  if (j.finished && j.outcome != "undo-failed") return;
  auto ctx = StepContext::from_json(j.args);
  out << fmt::format("the rehearsal in {} was interrupted at '{}': removing its clone {}\n", last, j.interrupted_step().value_or("?"), ctx.green);
  if (const auto* prep = j.find(step::db_prepare); prep && prep->undo_data.contains("db_settings"))
    site.ports().db.freezer(site.db_endpoint(ctx.blue))->restore(prep->undo_data["db_settings"]);
  if (const auto* verify = j.find(step::verify_target); verify && verify->undo_data.contains("container")) {
    auto name = verify->undo_data["container"].get<std::string>();
    if (site.ports().containers.inspect_container(name)) site.ports().containers.remove_container(name, true);
  }
  if (is_clone(ctx.green)) remove_clone(site, ctx.green);
  core::JournalWriter journal(last);
  journal.append({"operation-end", "", "failed", 0, {{"resumed", true}, {"clone_removed", ctx.green}}});
}

Outcome rehearse(Site& site, const RehearseOptions& opts, Progress& progress, std::ostream& out) {
  const auto& cfg = site.config();
  Outcome o;
  o.operation = "rehearse";
  core::SiteLock lock(cfg.lock_path(), cfg.site, "mupgrade rehearse");
  refuse_if_interrupted(site, "finish it first: 'mupgrade cutover --resume' or 'mupgrade rollback'");
  if (!opts.dry_run) finish_interrupted_rehearsal(site, out);
  auto pre = preflight(site, opts.target_code, "rehearse");
  pre.require_passed();
  auto state = *pre.state;
  auto release = *pre.release;
  auto target = *pre.target;

  StepContext ctx;
  ctx.operation = "rehearse";
  ctx.blue = state.live_set;
  ctx.green = kClonePrefix + core::make_set_id(target.release, core::utc_compact_now());
  ctx.target_code = release.code_dir;
  ctx.remove_failed_green = !opts.keep;
  ctx.progress = &progress;
  o.blue = ctx.blue;
  o.green = ctx.green;
  if (site.set_exists(ctx.green)) throw Error(fmt::format("clone {} exists already", ctx.green), "wait a second and retry");
  auto steps = compose_steps(site, ctx);
  out << fmt::format("rehearsal of {}: {} ({}) -> clone {} ({})\n", cfg.site, ctx.blue, pre.live_release, ctx.green, target.release);
  if (opts.dry_run) {
    out << "steps (production keeps serving; the clone is removed on failure unless --keep):\n" << core::render_plan(steps);
    o.ok = true;
    return o;
  }
  extract_target(site, release, progress);

  core::RehearsalReport report;
  report.site = cfg.site;
  report.clone = ctx.green;
  report.from_release = pre.live_release;
  report.target_release = target.release;
  report.target_code = release.describe();
  report.started_at = core::utc_now_iso();
  report.started_epoch = epoch_now();
  std::string stamp = core::utc_compact_now();

  core::JournalWriter journal(site.new_journal_path("rehearse", "last-rehearse"));
  o.journal = journal.path();
  auto result = run_steps(journal, ctx, steps, progress);

  report.finished_at = core::utc_now_iso();
  report.duration_s = epoch_now() - report.started_epoch;
  report.ok = result.ok;
  report.failed_step = result.failed_step;
  report.error = result.error;
  report.failed_component = ctx.facts.value("failed_component", "");
  report.timings = result.timings;
  report.upgrade_s = ctx.facts.value("upgrade_s", 0.0);
  report.upgrade_log = ctx.facts.value("upgrade_log", "");
  report.freeze_ms = ctx.facts.value("freeze_ms", 0.0);
  report.clone_ready_s = core::clone_ready_seconds(result.timings);
  report.first_page_s = ctx.facts.value("first_page_s", 0.0);
  // For the cutover this rehearsal prepares: it skips the checks this run proved.
  report.window_estimate_s = result.ok ? core::estimate_window(result.timings, core::ChecksInWindow::skipped) : 0;
  report.smoke = ctx.facts.value("smoke", json::array());
  report.isolation = ctx.facts.value("isolation", json::array());
  report.kept = opts.keep;
  for (const auto& w : ctx.facts.value("warnings", json::array())) report.warnings.push_back(w.get<std::string>());

  core::ensure_state_dir(cfg.reports_dir());
  std::string base = fmt::format("{}/{}-{}", cfg.reports_dir(), stamp, ctx.green);
  core::write_file_atomically(base + ".json", report.to_json().dump(2) + "\n", 0644);
  core::write_file_atomically(base + ".txt", core::render_summary(report), 0644);
  core::ensure_state_dir(cfg.textfile().substr(0, cfg.textfile().rfind('/')));
  core::write_file_atomically(cfg.textfile(), core::render_prometheus(report, report.ok ? report.started_epoch : last_success_epoch(cfg)), 0644);

  out << "\n" << core::render_summary(report);
  out << fmt::format("report: {}.json; metrics: {}\n", base, cfg.textfile());
  o.take(result);
  o.hint = "production was not touched; " + (result.hint.empty() ? std::string("the report names the failing step") : result.hint);
  o.record = record_of(site, o, report.started_epoch);
  report_outcome(site, *o.record, progress);
  return o;
}

}  // namespace mupgrade::ops
