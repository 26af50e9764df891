#include "mupgrade/core/rehearsal_report.hpp"

#include <fmt/format.h>

namespace mupgrade::core {

using nlohmann::json;

json RehearsalReport::to_json() const {
  return {{"report_version", 1},
          {"site", site},
          {"clone", clone},
          {"from_release", from_release},
          {"target_release", target_release},
          {"target_code", target_code},
          {"started_at", started_at},
          {"finished_at", finished_at},
          {"started_epoch", started_epoch},
          {"duration_s", duration_s},
          {"verdict", ok ? "ok" : "failed"},
          {"failed_step", failed_step},
          {"failed_component", failed_component},
          {"error", error},
          {"upgrade_s", upgrade_s},
          {"freeze_ms", freeze_ms},
          {"clone_ready_s", clone_ready_s},
          {"window_estimate_s", window_estimate_s},
          {"first_page_s", first_page_s},
          {"upgrade_log", upgrade_log},
          {"smoke", smoke},
          {"isolation", isolation},
          {"kept", kept},
          {"warnings", warnings},
          {"steps", timings_to_json(timings)}};
}

RehearsalReport RehearsalReport::from_json(const json& j) {
  RehearsalReport r;
  r.site = j.value("site", "");
  r.clone = j.value("clone", "");
  r.from_release = j.value("from_release", "");
  r.target_release = j.value("target_release", "");
  r.target_code = j.value("target_code", "");
  r.started_at = j.value("started_at", "");
  r.finished_at = j.value("finished_at", "");
  r.started_epoch = j.value("started_epoch", 0.0);
  r.duration_s = j.value("duration_s", 0.0);
  r.ok = j.value("verdict", "") == "ok";
  r.failed_step = j.value("failed_step", "");
  r.failed_component = j.value("failed_component", "");
  r.error = j.value("error", "");
  r.upgrade_s = j.value("upgrade_s", 0.0);
  r.freeze_ms = j.value("freeze_ms", 0.0);
  r.clone_ready_s = j.value("clone_ready_s", 0.0);
  r.window_estimate_s = j.value("window_estimate_s", 0.0);
  r.first_page_s = j.value("first_page_s", 0.0);
  r.upgrade_log = j.value("upgrade_log", "");
  r.smoke = j.value("smoke", json::array());
  r.isolation = j.value("isolation", json::array());
  r.kept = j.value("kept", false);
  r.warnings = j.value("warnings", std::vector<std::string>{});
  r.timings = timings_from_json(j.value("steps", json::array()));
  return r;
}

double estimate_window(const std::vector<StepTiming>& timings, ChecksInWindow checks) {
  double w = 0;
  for (const auto& t : timings)
    if (t.phase == Phase::window && t.outcome == "ok" && (checks == ChecksInWindow::run || (t.name != "checks" && t.name != "health-check")))
      w += t.seconds;
  return w + kCutoverOnlyStepsAllowanceS;
}

double clone_ready_seconds(const std::vector<StepTiming>& timings) {
  double s = 0;
  for (const auto& t : timings)
    if (t.name == "snapshot" || t.name == "start-green" || t.name == "green-maintenance-off") s += t.seconds;
  return s;
}

std::string render_summary(const RehearsalReport& r) {
  std::string out = fmt::format("rehearsal of {}: {} -> {} on clone {}: {}\n", r.site, r.from_release, r.target_release, r.clone,
                                r.ok ? "OK" : "FAILED");
  if (!r.ok)
    out += fmt::format("  failed at step '{}'{}: {}\n", r.failed_step, r.failed_component.empty() ? "" : " (component " + r.failed_component + ")", r.error);
  out += fmt::format("  started {}, took {:.1f} s\n", r.started_at, r.duration_s);
  if (r.upgrade_s > 0) out += fmt::format("  upgrade.php: {:.1f} s (log: {})\n", r.upgrade_s, r.upgrade_log);
  out += fmt::format("  production DB frozen {:.1f} ms; clone ready in {:.2f} s (upgrade excluded)\n", r.freeze_ms, r.clone_ready_s);
  if (r.ok) out += fmt::format("  expected cutover window: {:.1f} s\n", r.window_estimate_s);
  for (const auto& w : r.warnings) out += fmt::format("  warn {}\n", w);
  for (const auto* list : {&r.isolation, &r.smoke})
    for (const auto& c : *list)
      out += fmt::format("  {} {}: {}\n", c.value("ok", false) ? "ok  " : "FAIL", c.value("check", ""), c.value("detail", ""));
  return out;
}

std::string render_prometheus(const RehearsalReport& r, double last_success_epoch) {
  std::string out;
  std::string labels = fmt::format("site=\"{}\"", r.site);
  auto metric = [&](const char* name, const char* help, double value, const std::string& extra = "") {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n{}{{{}{}}} {}\n", name, help, name, name, labels, extra, value);
  };
  metric("mupgrade_rehearsal_last_run_timestamp_seconds", "Start of the last rehearsal (Unix time).", r.started_epoch);
  metric("mupgrade_rehearsal_success", "1 when the last rehearsal passed, else 0.", r.ok ? 1 : 0,
         fmt::format(",target=\"{}\"", r.target_release));
  metric("mupgrade_rehearsal_last_success_timestamp_seconds", "Start of the last rehearsal that passed (0 = none).", last_success_epoch);
  metric("mupgrade_rehearsal_upgrade_seconds", "upgrade.php duration in the last rehearsal.", r.upgrade_s);
  metric("mupgrade_rehearsal_window_estimate_seconds", "Expected cutover window (maintenance on to green serving).", r.window_estimate_s);
  metric("mupgrade_rehearsal_db_freeze_seconds", "How long production's DB was frozen for the snapshot.", r.freeze_ms / 1000.0);
  metric("mupgrade_rehearsal_clone_ready_seconds", "Snapshot to clone serving, upgrade excluded.", r.clone_ready_s);
  metric("mupgrade_rehearsal_duration_seconds", "Whole rehearsal, teardown included.", r.duration_s);
  return out;
}

}  // namespace mupgrade::core
