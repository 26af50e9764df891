#pragma once
// The record of one rehearsal: verdict, per-step timings, what the window of a real cutover
// would be, and its renderings (JSON report, human summary, Prometheus textfile).

#include "mupgrade/core/executor.hpp"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace mupgrade::core {

/// Maintenance-on, watermark and the proxy switch happen only in a real cutover; the bench
/// measures them at 0.05-0.25 s together. The window estimate adds this for them.
inline constexpr double kCutoverOnlyStepsAllowanceS = 0.3;

struct RehearsalReport {
  std::string site, clone;
  std::string from_release, target_release, target_code;
  std::string started_at, finished_at;  // ISO 8601 UTC
  double started_epoch = 0;             // seconds since 1970
  double duration_s = 0;
  bool ok = false;
  std::string failed_step, failed_component, error;
  std::vector<StepTiming> timings;
  double upgrade_s = 0;
  double freeze_ms = 0;         // production's DB freeze for the snapshot
  double clone_ready_s = 0;     // snapshot -> clone DB and web answering (upgrade excluded)
  double window_estimate_s = 0;
  double first_page_s = 0;      // green's first, cold page after upgrade.php (beside the checks; after the switch in a cutover that skips them)
  std::string upgrade_log;
  nlohmann::json smoke = nlohmann::json::array();      // [{check, ok, detail}]
  nlohmann::json isolation = nlohmann::json::array();  // [{check, ok, detail}]
  bool kept = false;            // the clone was kept (--keep)
  /// What did not stop the rehearsal but needs the admin's eye (e.g. the live site's own
  /// schema drift, which the upgrade did not cause).
  std::vector<std::string> warnings;

  nlohmann::json to_json() const;
  static RehearsalReport from_json(const nlohmann::json& j);
};

/// Whether the cutover the estimate is for runs the checks in its window. It skips them when
/// this rehearsal proved them (the usual case: a nightly rehearsal, a cutover the next day),
/// and its health check too: green's cold first page then comes right after the switch.
enum class ChecksInWindow { skipped, run };
/// What a cutover's window would take: the rehearsal's window-phase steps, without the checks
/// and the health check when the cutover skips them, plus the allowance.
double estimate_window(const std::vector<StepTiming>& timings, ChecksInWindow checks);
/// Snapshot through the clone answering, without upgrade.php.
double clone_ready_seconds(const std::vector<StepTiming>& timings);

std::string render_summary(const RehearsalReport& r);
/// node_exporter textfile: last run, success, upgrade and window seconds, freeze, clone ready.
/// `last_success_epoch` comes from the newest successful report (0 = none).
std::string render_prometheus(const RehearsalReport& r, double last_success_epoch);

}  // namespace mupgrade::core
