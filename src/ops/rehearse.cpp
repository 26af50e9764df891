// `mupgrade rehearse`: the cutover's steps on an isolated clone of production, which keeps
// serving (its DB is frozen only for the snapshot instant). Writes a JSON report, a human
// summary and a Prometheus textfile; a failure exits 1 naming the step and component.

#include "mupgrade/ops/operations.hpp"
#include "mupgrade/ops/plans.hpp"
#include "preflight.hpp"
#include "mupgrade/ops/target.hpp"

#include "mupgrade/core/atomic_file.hpp"
#include "mupgrade/core/site_lock.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <ostream>

namespace mupgrade::ops {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<std::string> rehearsal_report_files(const core::SiteConfig& cfg) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(cfg.reports_dir(), ec))
    if (e.path().extension() == ".json") files.push_back(e.path().string());
  std::sort(files.rbegin(), files.rend());  // names start with the UTC time
  return files;
}

namespace {

// The newest report that `want` accepts; damaged reports are skipped.
std::optional<core::RehearsalReport> newest_report(const core::SiteConfig& cfg, bool (*want)(const core::RehearsalReport&)) {
  for (const auto& f : rehearsal_report_files(cfg)) {
    try {
      std::ifstream in(f);
      auto r = core::RehearsalReport::from_json(json::parse(in));
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

// A rehearsal killed mid-way leaves its clone: remove it and close its journal.
void clean_interrupted(Site& site, std::ostream& out) {
  std::string last = site.last_journal_path("last-rehearse");
  if (last.empty() || !fs::exists(last)) return;
  auto j = core::read_journal(last);
  if (j.finished) return;
  auto ctx = CutoverContext::from_json(j.args);
  out << fmt::format("the rehearsal in {} was interrupted at '{}': removing its clone {}\n", last, j.interrupted_step().value_or("?"), ctx.green);
  if (j.find("db-prepare")) {
    try {  // it may have left production's DB flushing eagerly (release is idempotent)
      db::make_freezer(site.db_endpoint(ctx.blue))->release();
    } catch (const std::exception&) {
    }
  }
  if (is_clone(ctx.green)) remove_clone(site, ctx.green);
  core::JournalWriter journal(last);
  journal.append({"operation-end", "", "failed", 0, {{"resumed", true}, {"clone_removed", ctx.green}}});
}

}  // namespace

int rehearse(Site& site, const RehearseOptions& opts, std::ostream& out) {
  const auto& cfg = site.config();
  auto state = require_live_set(site);
  auto release = resolve_target(site, opts.target_code);
  core::SiteLock lock(cfg.lock_path(), cfg.site, "mupgrade rehearse");
  refuse_if_interrupted(site, "finish it first: 'mupgrade cutover --resume' or 'mupgrade rollback'");
  if (!opts.dry_run) clean_interrupted(site, out);

  auto target = target_version(site, release);
  CutoverContext ctx;
  ctx.operation = "rehearse";
  ctx.blue = state.live_set;
  ctx.green = kClonePrefix + core::make_set_id(target.release, core::utc_compact_now());
  ctx.target_code = release.code_dir;
  ctx.remove_failed_green = !opts.keep;
  ctx.out = &out;
  if (site.set_exists(ctx.green)) throw Error(fmt::format("clone {} exists already", ctx.green), "wait a second and retry");
  auto steps = rehearse_steps(site, ctx);
  out << fmt::format("rehearsal of {}: {} ({}) -> clone {} ({})\n", cfg.site, ctx.blue, state.live_release, ctx.green, target.release);
  if (opts.dry_run) {
    out << "steps (production keeps serving; the clone is removed on failure unless --keep):\n" << core::render_plan(steps);
    return 0;
  }
  extract_target(site, release, out);

  core::RehearsalReport report;
  report.site = cfg.site;
  report.clone = ctx.green;
  report.from_release = state.live_release;
  report.target_release = target.release;
  report.target_code = release.describe();
  report.started_at = core::utc_now_iso();
  report.started_epoch = epoch_now();
  std::string stamp = core::utc_compact_now();

  core::JournalWriter journal(site.new_journal_path("rehearse", "last-rehearse"));
  core::Executor ex(journal);
  attach_progress(ex, steps.size(), out);
  auto result = ex.run("rehearse", ctx.to_json(), steps);

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
  report.window_estimate_s = result.ok ? core::estimate_window(result.timings) : 0;
  report.smoke = ctx.facts.value("smoke", json::array());
  report.isolation = ctx.facts.value("isolation", json::array());
  report.kept = opts.keep;

  fs::create_directories(cfg.reports_dir());
  std::string base = fmt::format("{}/{}-{}", cfg.reports_dir(), stamp, ctx.green);
  core::write_file_atomically(base + ".json", report.to_json().dump(2) + "\n", 0644);
  core::write_file_atomically(base + ".txt", core::render_summary(report), 0644);
  fs::create_directories(fs::path(cfg.textfile()).parent_path());
  core::write_file_atomically(cfg.textfile(), core::render_prometheus(report, report.ok ? report.started_epoch : last_success_epoch(cfg)), 0644);

  out << "\n" << core::render_timings(result.timings, result.window_seconds) << "\n" << core::render_summary(report);
  out << fmt::format("report: {}.json; metrics: {}\n", base, cfg.textfile());
  if (!result.ok) {
    for (const auto& f : result.undo_failures) out << "  undo failed: " << f << "\n";
    out << fmt::format("rehearsal FAILED at step '{}': {}\nproduction was not touched.\n", result.failed_step, result.error);
    return 1;
  }
  return 0;
}

}  // namespace mupgrade::ops
