#include "render.hpp"

#include "app.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace mupgrade::cli {

namespace {

void render_steps(const std::vector<ops::PlanReport::PlannedStep>& steps, std::ostream& out) {
  size_t i = 0;
  for (const auto& s : steps)
    out << fmt::format("  {:>2}. {:<7} {:<22} {}{}\n", ++i, s.phase, s.name, s.what, s.undo.empty() ? "" : "  [undo: " + s.undo + "]");
}

// `label` is padded to the status table's first column.
void render_operation(const std::string& label, const ops::OperationStatus& op, std::ostream& out) {
  out << fmt::format("{:<17}{} {} ({})\n", label, op.operation, op.outcome, op.journal.empty() ? "no journal yet" : op.journal);
  // The operation's own recovery when it names one (adopt), else a cutover's.
  std::string run = op.recovery.empty() ? "'mupgrade cutover --resume' or 'mupgrade rollback'" : fmt::format("'{}'", fmt::join(op.recovery, "' or '"));
  if (!op.interrupted_step.empty())
    out << fmt::format("  INTERRUPTED at step '{}': run {}\n", op.interrupted_step, run);
  else if (!op.interrupted_after.empty())
    out << fmt::format("  INTERRUPTED after step '{}': run {}\n", op.interrupted_after, run);
  else if (!op.recovery.empty() && op.steps.empty())
    out << fmt::format("  INTERRUPTED before its first step (nothing was made): run {}\n", run);
  else if (!op.recovery.empty() && op.left_to_undo.empty())
    out << fmt::format("  NOT FINISHED ({}): run {}\n", op.outcome, run);
  if (!op.left_to_undo.empty())
    out << fmt::format("  left to undo: {}: run {}\n", fmt::join(op.left_to_undo, ", "), op.recovery.empty() ? "'mupgrade cutover --resume'" : run);
  for (const auto& s : op.steps)
    out << fmt::format("  {:<24} {:>9.3f} s  {}{}\n", s.name, s.seconds, s.outcome,
                       std::find(op.undone.begin(), op.undone.end(), s.name) != op.undone.end() ? " (undone)" : "");
}

}  // namespace

nlohmann::json json_result(const std::string& command, const nlohmann::json& body) {
  nlohmann::json j = {{"version", core::kJsonResultVersion}, {"mupgrade", version_and_build()}, {"command", command}};
  for (const auto& [k, v] : body.items()) j[k] = v;
  return j;
}

int render_plan(const ops::PlanReport& r, bool json, std::ostream& out) {
  int rc = r.ready() ? 0 : 1;
  if (json) {
    out << json_result("plan", r.to_json()).dump(2) << "\n";
    return rc;
  }
  out << "preflight:\n" << core::render_checks(r.checks);
  if (!r.steps.empty()) {
    out << "\ncutover steps:\n";
    render_steps(r.steps, out);
  }
  out << "\nexpected window: "
      << (r.expected_window_s ? fmt::format("{:.1f} s ({})", *r.expected_window_s, r.expected_window_source)
                              : std::string("unknown: no rehearsal or cutover measured yet"))
      << "\n";
  out << (rc == 0 ? "plan: ready for 'mupgrade cutover'\n" : "plan: NOT ready (see FAIL lines)\n");
  return rc;
}

int render_status(const ops::StatusReport& r, bool json, std::ostream& out) {
  if (json) {
    out << json_result("status", r.to_json()).dump(2) << "\n";
    return 0;
  }
  out << fmt::format("site {}  ({})\n", r.site, r.public_url);
  if (!r.configured) {
    // Only what an adoption left before it wrote the config: the lock and its journal.
    out << fmt::format("site config      none yet ({} is written at the end of 'mupgrade adopt')\n", r.config_file);
    out << fmt::format("lock             {}\n", r.lock ? fmt::format("held by '{}' (pid {}) since {}", r.lock->command, r.lock->pid, r.lock->since) : "free");
    if (r.adoption) render_operation("adoption", *r.adoption, out);
    return 0;
  }
  out << fmt::format("live set         {}  {}  since {}\n", r.live_set.empty() ? "(none)" : r.live_set, r.live_release, r.since);
  out << fmt::format("rollback target  {}\n", r.rollback_set.empty() ? "(none)" : r.rollback_set);
  out << fmt::format("proxy            {} -> {} (public URL served by {})\n", r.proxy_kind, r.proxy_backend.empty() ? "(not set up)" : r.proxy_backend,
                     r.serving.empty() ? "neither the live set nor the rollback target: " + r.public_answer : r.serving);
  if (!r.serving.empty() && r.serving != r.live_set)
    out << "WARNING: the public URL is served by " << r.serving << ", not by the live set recorded in site.json\n";
  else if (!r.proxy_backend.empty() && r.proxy_backend != r.live_set)
    out << "WARNING: the proxy's saved state does not name the live set recorded in site.json\n";
  out << fmt::format("lock             {}\n", r.lock ? fmt::format("held by '{}' (pid {}) since {}", r.lock->command, r.lock->pid, r.lock->since) : "free");
  out << "sets:\n";
  for (const auto& s : r.sets)
    out << fmt::format("  {:<32} {:<26} {:<16} web {:<8} db {:<8}{}\n", s.id, s.release, s.role, s.web, s.db, s.maintenance ? "  (maintenance)" : "");
  if (r.last_operation) render_operation("last operation", *r.last_operation, out);
  if (r.adoption) render_operation("adoption", *r.adoption, out);
  if (const auto& rh = r.last_rehearsal)
    out << fmt::format("last rehearsal   {} -> {} at {}: {}\n", rh->ok ? "ok" : "failed", rh->target_release, rh->started_at,
                       rh->ok ? fmt::format("upgrade {:.1f} s, window {:.1f} s", rh->upgrade_s, rh->window_estimate_s) : "failed at '" + rh->failed_step + "'");
  if (r.last_rehearsal_run && !r.last_rehearsal_run->finished)
    out << "  the last rehearsal was INTERRUPTED: run 'mupgrade prune' (or the next 'mupgrade rehearse'): it restores production's DB settings and removes the clone\n";
  return 0;
}

}  // namespace mupgrade::cli
