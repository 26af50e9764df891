// `mupgrade plan`: read-only. What a cutover would do, and whether it can.

#include "mupgrade/ops/plans.hpp"

#include "mupgrade/core/atomic_file.hpp"
#include "mupgrade/core/check.hpp"
#include "mupgrade/ops/operations.hpp"
#include "mupgrade/ops/target.hpp"
#include "preflight.hpp"

#include <fmt/format.h>

#include <ostream>

namespace mupgrade::ops {

using core::CheckResult;
using core::CheckStatus;
using nlohmann::json;

namespace {

std::string one_line(std::string text) {
  for (auto& ch : text)
    if (ch == '\n' || ch == '\r') ch = ' ';
  return text.size() > 300 ? text.substr(0, 300) + "..." : text;
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
}  // namespace

int plan(Site& site, const std::string& target_override, bool as_json, std::ostream& out) {
  const auto& cfg = site.config();
  auto pre = preflight(site, target_override, "cutover");
  auto checks = pre.checks;
  std::string live = pre.state ? pre.state->live_set : "";
  json facts;
  facts["live_set"] = live;
  facts["live_release"] = pre.live_release;
  facts["db_server_version"] = pre.db_server;
  const auto& target = pre.target;
  const auto& release = pre.release;
  if (target) {
    facts["target_release"] = target->release;
    facts["target_version"] = target->version->str();
  }
  std::vector<core::Step> steps;
  if (target && !live.empty()) {
    StepContext ctx;
    ctx.blue = live;
    ctx.green = core::make_set_id(target->release, core::utc_compact_now());
    ctx.target_code = release->code_dir;
    steps = compose_steps(site, ctx);
  }
  // The last rehearsal: how old, its verdict, its measured upgrade and window.
  auto rehearsal = last_rehearsal(cfg);
  std::optional<double> window;
  std::string window_source;
  if (rehearsal) {
    double age_h = (std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count() - rehearsal->started_epoch) / 3600;
    bool same_target = target && rehearsal->target_release == target->release;
    std::string detail = fmt::format("{} {:.1f} h ago, {} -> {}{}", rehearsal->ok ? "passed" : "FAILED", age_h, rehearsal->from_release,
                                     rehearsal->target_release,
                                     rehearsal->ok ? fmt::format(", upgrade.php {:.1f} s, window {:.1f} s", rehearsal->upgrade_s, rehearsal->window_estimate_s)
                                                   : fmt::format(" at '{}': {}", rehearsal->failed_step, one_line(rehearsal->error)));
    // A failed rehearsal of this very target predicts a failed cutover: not ready.
    CheckStatus verdict = !rehearsal->ok ? (same_target ? CheckStatus::fail : CheckStatus::warn) : age_h > 24 ? CheckStatus::warn : !same_target ? CheckStatus::warn : CheckStatus::ok;
    std::string fix = !rehearsal->ok ? "fix what failed and run 'mupgrade rehearse' again before the cutover"
                      : age_h > 24   ? "older than a day: run 'mupgrade rehearse' (the nightly timer does)"
                      : !same_target ? "it rehearsed another release: run 'mupgrade rehearse' for this target"
                                     : "";
    checks.push_back({"last rehearsal", verdict, detail, fix});
    if (rehearsal->ok && same_target) {
      window = rehearsal->window_estimate_s;
      window_source = fmt::format("rehearsal of {}", rehearsal->started_at);
    }
    facts["last_rehearsal"] = {{"at", rehearsal->started_at}, {"age_h", age_h}, {"verdict", rehearsal->ok ? "ok" : "failed"},
                               {"target_release", rehearsal->target_release}, {"upgrade_s", rehearsal->upgrade_s},
                               {"window_estimate_s", rehearsal->window_estimate_s}, {"failed_step", rehearsal->failed_step}, {"error", rehearsal->error}};
  } else {
    checks.push_back({"last rehearsal", CheckStatus::warn, "none", "run 'mupgrade rehearse' to measure the window and prove the upgrade on a clone"});
    facts["last_rehearsal"] = nullptr;
  }
  if (!window && (window = last_window(site))) window_source = "last cutover";
  bool ok = core::all_passed(checks);
  if (as_json) {
    json js = json::array();
    for (const auto& s : steps) js.push_back({{"step", s.name}, {"phase", std::string(core::to_string(s.phase))}, {"what", s.what}, {"undo", s.undo_what}});
    facts["ok"] = ok;
    facts["checks"] = core::checks_to_json(checks);
    facts["steps"] = js;
    facts["expected_window_s"] = window ? json(*window) : json(nullptr);
    facts["expected_window_source"] = window ? window_source : "none: no rehearsal or cutover measured yet";
    out << facts.dump(2) << "\n";
    return ok ? 0 : 1;
  }
  out << "preflight:\n" << core::render_checks(checks);
  if (!steps.empty()) {
    out << "\ncutover steps:\n" << core::render_plan(steps);
  }
  out << "\nexpected window: " << (window ? fmt::format("{:.1f} s ({})", *window, window_source) : std::string("unknown: no rehearsal or cutover measured yet")) << "\n";
  out << (ok ? "plan: ready for 'mupgrade cutover'\n" : "plan: NOT ready (see FAIL lines)\n");
  return ok ? 0 : 1;
}

}  // namespace mupgrade::ops
