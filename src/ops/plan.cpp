// `mupgrade plan`: read-only. What a cutover would do, and whether it can.

#include "mupgrade/ops/plans.hpp"

#include "mupgrade/btrfs/btrfs.hpp"
#include "mupgrade/core/check.hpp"
#include "mupgrade/ops/operations.hpp"
#include "mupgrade/ops/target.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <ostream>

namespace mupgrade::ops {

namespace fs = std::filesystem;
using core::CheckResult;
using core::CheckStatus;
using nlohmann::json;

namespace {

// The last finished cutover's window, the best estimate until rehearsals exist.
std::optional<double> last_window(Site& site) {
  std::string dir = site.config().state_dir + "/journal";
  if (!fs::is_directory(dir)) return std::nullopt;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().string().find("-cutover.jsonl") != std::string::npos) files.push_back(e.path().string());
  std::sort(files.rbegin(), files.rend());
  for (const auto& f : files) {
    auto j = core::read_journal(f);
    if (!j.finished || j.outcome != "ok") continue;
    double w = 0;
    for (const auto& s : j.steps)
      if (s.name == "maintenance-on" || w > 0) {
        w += s.seconds;
        if (s.name == "switch-proxy") return w;
      }
  }
  return std::nullopt;
}
}  // namespace

int plan(Site& site, const std::string& target_override, bool as_json, std::ostream& out) {
  const auto& cfg = site.config();
  std::vector<CheckResult> checks;
  json facts;
  auto st = site.state();
  std::string live = st ? st->live_set : "";
  facts["live_set"] = live;
  if (live.empty()) checks.push_back({"live set", CheckStatus::fail, "none recorded", "mupgrade adopt --set ID"});

  std::string db_version, db_release;
  if (!live.empty()) {
    try {
      db_version = site.db_config_value(live, "version");
      db_release = site.db_config_value(live, "release");
      auto ep = site.db_endpoint(live);
      std::string server = db::connect(ep)->server_version();
      checks.push_back({"live set", CheckStatus::ok, fmt::format("{}: Moodle {} ({}), {} {}", live, db_release, db_version, cfg.db.kind, server), ""});
      facts["live_release"] = db_release;
      facts["db_server_version"] = server;
    } catch (const std::exception& e) {
      checks.push_back({"live set", CheckStatus::fail, e.what(), "mupgrade status; docker start the live set"});
    }
  }
  std::optional<core::VersionFile> target;
  std::optional<TargetRelease> release;
  try {
    release = resolve_target(site, target_override);
  } catch (const Error& e) {
    checks.push_back({"target", CheckStatus::fail, e.what(), e.hint()});
  }
  if (release) {
    try {
      target = target_version(site, *release);
      facts["target_release"] = target->release;
      facts["target_version"] = target->version->str();
      auto live_v = core::MoodleVersion::parse(db_version);
      if (live_v && *target->version < *live_v)
        checks.push_back({"target", CheckStatus::fail, fmt::format("{} ({}) is OLDER than the live DB ({}): Moodle refuses downgrades", target->release, target->version->str(), db_version), "pick a newer release"});
      else if (live_v && *target->version == *live_v)
        checks.push_back({"target", CheckStatus::warn, fmt::format("{}: same core version as the live DB; only plugin changes would be upgraded", target->release), ""});
      else
        checks.push_back({"target", CheckStatus::ok, fmt::format("{} ({}) from {}", target->release, target->version->str(), release->describe()), ""});
      if (release->source != TargetRelease::Source::code)
        checks.push_back({"target code", CheckStatus::ok,
                          release->extracted() ? "extracted in " + release->code_dir
                                               : "not extracted yet: the next rehearsal or cutover extracts it into " + release->code_dir + ", before any window",
                          ""});
    } catch (const std::exception& e) {
      checks.push_back({"target", CheckStatus::fail, e.what(), "point target.code at a Moodle code tree"});
    }
  }
  for (const auto& image : {cfg.target_image, cfg.db.image}) {
    auto info = site.engine().inspect_image(image);
    if (!info) {
      checks.push_back({"image " + image, CheckStatus::fail, "missing", "build or pull it before the cutover"});
      continue;
    }
    std::string php = info->contains("Config") && (*info)["Config"].contains("Labels") && (*info)["Config"]["Labels"].is_object()
                          ? (*info)["Config"]["Labels"].value("mupgrade.php", "")
                          : "";
    if (image == cfg.target_image && target && !php.empty()) {
      auto range = core::php_range_for_branch(target->branch);
      if (range && !core::php_in_range(php, *range)) {
        checks.push_back({"image " + image, CheckStatus::fail, fmt::format("PHP {}, but Moodle branch {} needs PHP {}-{}", php, target->branch, range->min, range->max),
                          "build a web image with a matching PHP (containers/web, --build-arg PHP=...) and set target.image"});
        continue;
      }
    }
    checks.push_back({"image " + image, CheckStatus::ok, php.empty() ? "present" : "present, PHP " + php, ""});
  }
  try {
    auto space = btrfs::space(cfg.pool);
    checks.push_back({"free space", space.free_bytes < core::kMinPoolFreeBytes ? CheckStatus::fail : CheckStatus::ok,
                      fmt::format("{:.1f} GiB free in {}", double(space.free_bytes) / (1 << 30), cfg.pool), "mupgrade prune, or grow the pool"});
  } catch (const std::exception& e) {
    checks.push_back({"free space", CheckStatus::fail, e.what(), "check the pool path"});
  }
  auto backend = site.proxy()->current();
  checks.push_back(backend && backend->name == live
                       ? CheckResult{"proxy", CheckStatus::ok, fmt::format("{} -> {}", cfg.proxy.kind, backend->name), ""}
                       : CheckResult{"proxy", CheckStatus::fail, fmt::format("{} -> {}", cfg.proxy.kind, backend ? backend->name : "(not set up)"), "the proxy must point at the live set: mupgrade status"});

  std::vector<core::Step> steps;
  if (target && !live.empty()) {
    CutoverContext ctx;
    ctx.blue = live;
    ctx.green = core::make_set_id(target->release, core::utc_compact_now());
    ctx.target_code = release->code_dir;
    steps = cutover_steps(site, ctx);
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
                                                   : fmt::format(" at '{}': {}", rehearsal->failed_step, rehearsal->error.substr(0, 160)));
    CheckStatus verdict = !rehearsal->ok ? CheckStatus::warn : age_h > 24 ? CheckStatus::warn : !same_target ? CheckStatus::warn : CheckStatus::ok;
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
