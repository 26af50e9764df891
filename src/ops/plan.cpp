// `mupgrade plan`: read-only. What a cutover would do, and whether it can.

#include "mupgrade/ops/plans.hpp"

#include "mupgrade/core/atomic_file.hpp"
#include "mupgrade/core/check.hpp"
#include "mupgrade/ops/operations.hpp"
#include "mupgrade/ops/target.hpp"
#include "preflight.hpp"
#include "survey.hpp"

#include <fmt/format.h>

#include <ostream>

namespace mupgrade::ops {

using core::CheckResult;
using core::CheckStatus;
using nlohmann::json;

namespace {

// A multi-line error as one line of the table, whole (its second half may name the problem).
std::string one_line(std::string text) {
  for (auto& ch : text)
    if (ch == '\n' || ch == '\r') ch = ' ';
  return text;
}

// The last finished cutover's window, the best estimate until rehearsals exist.
std::optional<double> last_window(Site& site) {
  for (const auto& f : core::state_files(site.config().state_dir + "/journal", "-cutover.jsonl")) {
    auto j = core::read_journal(f);
    if (!j.finished || j.outcome != "ok") continue;
    double w = 0;
    for (const auto& s : j.steps)
      if (s.name == step::maintenance_on || w > 0) {
        w += s.seconds;
        if (s.name == step::switch_proxy) return w;
      }
  }
  return std::nullopt;
}
// Whether the preflight got far enough for Moodle to be asked: live DB, target, images.
bool can_survey(const Preflight& pre) {
  if (!pre.state || pre.state->live_set.empty() || !pre.release || !pre.target) return false;
  for (const auto& c : pre.checks)
    if (c.status == CheckStatus::fail && (c.name == "live set" || c.name == "config" || c.name == "target" || c.name.rfind("image ", 0) == 0 ||
                                          c.name == "free space"))
      return false;
  return true;
}

std::vector<CheckResult> survey_results(const TargetSurvey& s) {
  std::vector<CheckResult> out;
  if (s.pending != moodle::PendingState::pending)
    out.push_back({"target", CheckStatus::fail,
                   s.pending == moodle::PendingState::downgrade_refused ? "upgrade.php: the target code is OLDER than the version that made the live DB"
                                                                        : "upgrade.php --is-pending: the target code needs no upgrade of the live DB",
                   "pick a newer release as the target"});
  out.push_back({"maintenance", CheckStatus::ok,
                 !s.maintenance_required ? "not asked: upgrade.php of this release has no --is-maintenance-required (Moodle 4.2+)"
                 : *s.maintenance_required ? "upgrade.php --is-maintenance-required: this upgrade WILL put the site in maintenance (exit 2): the cutover's window"
                                           : "upgrade.php --is-maintenance-required: this upgrade would NOT need maintenance (exit 3); the cutover keeps its window anyway",
                 ""});
  if (!s.missing_plugins.empty())
    out.push_back({"add-ons", CheckStatus::fail,
                   fmt::format("installed on the live site, missing from the target code: {} (uninstall_plugins.php --show-missing)", join_names(s.missing_plugins)),
                   kMissingPluginsFix});
  else
    out.push_back({"add-ons", CheckStatus::ok, "every add-on of the live site is in the target code", ""});
  if (!s.refused_plugins.empty())
    out.push_back({"plugin check", CheckStatus::fail, fmt::format("upgrade.php refuses {} (Dependencies check failed)", join_names(s.refused_plugins)),
                   kRefusedPluginsFix});
  else
    out.push_back({"plugin check", CheckStatus::ok, "upgrade.php's plugin check passes", ""});
  if (!s.live_schema_error.empty())
    out.push_back({"live schema", CheckStatus::warn, "check_database_schema.php could not run on the live code: " + s.live_schema_error,
                   "differences after the upgrade will all count as the upgrade's"});
  else if (!s.live_schema.empty())
    out.push_back({"live schema", CheckStatus::warn,
                   fmt::format("the live site's schema already differs from its code ({} item(s), its own drift; not held against the upgrade): {}",
                               s.live_schema.size(), describe_differences(s.live_schema)),
                   "nothing to do for the upgrade; a local plugin's columns on core tables are the usual cause"});
  else
    out.push_back({"live schema", CheckStatus::ok, "check_database_schema.php: the live site's schema matches its code", ""});
  return out;
}

// Moodle's own answers about the target (src/ops/survey.cpp), from a throwaway probe in the
// pool: the target's code (a snapshot or reflink copy) with the live config.php and a snapshot
// of the live moodledata, removed at the end. The live DB is only read.
void survey_checks(Site& site, const Preflight& pre, PlanReport& r) {
  if (!can_survey(pre)) return;
  if (pre.release->source != TargetRelease::Source::code && !pre.release->extracted()) {
    r.checks.push_back({"moodle's checks", CheckStatus::warn, "the target is not extracted yet: verify-target asks Moodle in the rehearsal and the cutover", ""});
    return;
  }
  auto& storage = site.ports().storage;
  std::string id = "plan-" + core::utc_compact_now();
  std::string dir = site.config().pool + "/probes/" + id;
  SurveyPlace place{dir + "/code", dir + "/moodledata", fmt::format("mupgrade-{}-{}", site.config().site, id),
                    {{"mupgrade.site", site.config().site}, {"mupgrade.set", id}, {"mupgrade.role", "probe"}}};
  auto remove_probe = [&] {
    site.delete_if_subvolume(place.code);
    site.delete_if_subvolume(place.scratch);
    storage.remove_tree(dir);
    storage.remove(site.config().pool + "/probes");  // only when empty: another plan may be probing
  };
  try {
    storage.make_dirs(dir);
    site.lay_out_code(pre.release->code_dir, place.code);
    site.install_live_config(pre.state->live_set, place.code);
    auto s = survey_target(site, pre.state->live_set, place);
    remove_probe();
    for (auto& c : survey_results(s)) r.checks.push_back(std::move(c));
  } catch (const std::exception& e) {
    try { remove_probe(); } catch (...) {}
    r.checks.push_back({"moodle's checks", CheckStatus::fail, fmt::format("the target code could not be asked about the live DB: {}", one_line(e.what())),
                        "mupgrade doctor; docker logs of the probe container"});
  }
}

}  // namespace

PlanReport plan(Site& site, const std::string& target_override) {
  const auto& cfg = site.config();
  auto pre = preflight(site, target_override, "cutover");
  PlanReport r;
  r.checks = pre.checks;
  survey_checks(site, pre, r);
  r.live_set = pre.state ? pre.state->live_set : "";
  r.live_release = pre.live_release;
  r.db_server_version = pre.db_server;
  const auto& target = pre.target;
  if (target) {
    r.target_release = target->release;
    r.target_version = target->version->str();
  }
  if (target && !r.live_set.empty()) {
    StepContext ctx;
    ctx.blue = r.live_set;
    ctx.green = core::make_set_id(target->release, core::utc_compact_now());
    ctx.target_code = pre.release->code_dir;
    for (const auto& s : compose_steps(site, ctx)) r.steps.push_back({s.name, std::string(core::to_string(s.phase)), s.what, s.undo_what});
  }
  // The last rehearsal: how old, its verdict, its measured upgrade and window.
  r.last_rehearsal = last_rehearsal(cfg);
  if (const auto& rh = r.last_rehearsal) {
    r.rehearsal_age_h = (std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count() - rh->started_epoch) / 3600;
    bool same_target = target && rh->target_release == target->release;
    // A rehearsal made before the last cutover rehearsed other data and another live release.
    bool before_cutover = pre.state && !pre.state->cutover_at.empty() && rh->started_at < pre.state->cutover_at;
    std::string detail = fmt::format("{} {:.1f} h ago, {} -> {}{}", rh->ok ? "passed" : "FAILED", r.rehearsal_age_h, rh->from_release, rh->target_release,
                                     rh->ok ? fmt::format(", upgrade.php {:.1f} s, window {:.1f} s", rh->upgrade_s, rh->window_estimate_s)
                                            : fmt::format(" at '{}': {}", rh->failed_step, one_line(rh->error)));
    // A failed rehearsal of this very target predicts a failed cutover: not ready.
    CheckStatus verdict = !rh->ok ? (same_target && !before_cutover ? CheckStatus::fail : CheckStatus::warn)
                          : r.rehearsal_age_h > 24 || !same_target || before_cutover ? CheckStatus::warn
                                                                                     : CheckStatus::ok;
    std::string fix = !rh->ok               ? "fix what failed and run 'mupgrade rehearse' again before the cutover"
                      : before_cutover      ? "it ran before the last cutover: run 'mupgrade rehearse' on today's live set"
                      : r.rehearsal_age_h > 24 ? "older than a day: run 'mupgrade rehearse' (the nightly timer does)"
                      : !same_target        ? "it rehearsed another release: run 'mupgrade rehearse' for this target"
                                            : "";
    r.checks.push_back({"last rehearsal", verdict, detail, fix});
    if (rh->ok && same_target && !before_cutover) {
      // The cutover skips the checks when this rehearsal proved them; else they are in its window.
      r.expected_window_s = core::estimate_window(rh->timings,
                                                  rehearsal_proves_checks(*rh, pre, epoch_seconds_now()) ? core::ChecksInWindow::skipped
                                                                                                       : core::ChecksInWindow::run);
      r.expected_window_source = fmt::format("rehearsal of {}", rh->started_at);
    }
  } else {
    r.checks.push_back({"last rehearsal", CheckStatus::warn, "none", "run 'mupgrade rehearse' to measure the window and prove the upgrade on a clone"});
  }
  if (!r.expected_window_s && (r.expected_window_s = last_window(site))) r.expected_window_source = "last cutover";
  return r;
}

void PlanReport::require_ready() const {
  Preflight p;
  p.checks = checks;
  p.require_passed();
}

json PlanReport::to_json() const {
  json steps_json = json::array();
  for (const auto& s : steps) steps_json.push_back({{"step", s.name}, {"phase", s.phase}, {"what", s.what}, {"undo", s.undo}});
  json rh = nullptr;
  if (last_rehearsal)
    rh = {{"at", last_rehearsal->started_at}, {"age_h", rehearsal_age_h}, {"verdict", last_rehearsal->ok ? "ok" : "failed"},
          {"target_release", last_rehearsal->target_release}, {"upgrade_s", last_rehearsal->upgrade_s},
          {"window_estimate_s", last_rehearsal->window_estimate_s}, {"failed_step", last_rehearsal->failed_step}, {"error", last_rehearsal->error}};
  return {{"ok", ready()}, {"live_set", live_set}, {"live_release", live_release}, {"db_server_version", db_server_version},
          {"target_release", target_release}, {"target_version", target_version}, {"checks", core::checks_to_json(checks)},
          {"steps", steps_json}, {"last_rehearsal", rh},
          {"expected_window_s", expected_window_s ? json(*expected_window_s) : json(nullptr)},
          {"expected_window_source", expected_window_s ? expected_window_source : "none: no rehearsal or cutover measured yet"}};
}

}  // namespace mupgrade::ops
