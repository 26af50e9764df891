// `mupgrade status` and `mupgrade adopt`.

#include "mupgrade/core/atomic_file.hpp"
#include "mupgrade/core/site_lock.hpp"
#include "mupgrade/ops/operations.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <ostream>

namespace mupgrade::ops {

using nlohmann::json;

namespace {

json describe_sets(Site& site, const core::SiteState& st) {
  json sets = json::array();
  auto& storage = site.ports().storage;
  for (const auto& id : storage.list_dir(site.config().sets_dir())) {
    json j = {{"id", id}};
    auto p = site.paths(id);
    try {
      j["release"] = site.code_version(p.code).release;
    } catch (const std::exception&) {
      j["release"] = "?";
    }
    j["role"] = id == st.live_set ? "live" : id == st.rollback_set ? "rollback target" : "kept";
    if (storage.is_subvolume(p.db)) j["created"] = fmt::format("{:%Y-%m-%d %H:%M}", fmt::gmtime(std::chrono::system_clock::to_time_t(storage.created(p.db))));
    auto web = site.ports().containers.inspect_container(site.web_container(id));
    auto db = site.ports().containers.inspect_container(site.db_container(id));
    j["web"] = web ? web->status : "absent";
    j["db"] = db ? db->status : "absent";
    j["maintenance"] = site.maintenance_file_present(id);
    sets.push_back(j);
  }
  return sets;
}

json last_operation(Site& site, const std::string& pointer = "last") {
  std::string path = site.last_journal_path(pointer);
  if (path.empty() || !core::read_state_file(path)) return nullptr;
  auto j = core::read_journal(path);
  json steps = json::array();
  for (const auto& s : j.steps)
    steps.push_back({{"step", s.name}, {"seconds", s.seconds}, {"outcome", s.ended ? s.outcome : "INTERRUPTED"}, {"undone", s.undone}});
  json out = {{"operation", j.operation}, {"started", j.started_at}, {"journal", path}, {"finished", j.finished},
              {"outcome", j.finished ? j.outcome : "interrupted"}, {"steps", steps}};
  json left = json::array();
  for (const auto& s : j.steps)
    if (s.undo_failed) left.push_back(s.name);
  if (!left.empty()) out["left_to_undo"] = left;
  if (auto i = j.interrupted_step()) out["interrupted_step"] = *i;
  else if (!j.finished && !j.steps.empty()) out["interrupted_after"] = j.steps.back().name;
  return out;
}

}  // namespace

int status(Site& site, bool as_json, std::ostream& out) {
  const auto& cfg = site.config();
  auto st = site.state().value_or(core::SiteState{});
  json j = {{"site", cfg.site}, {"live_set", st.live_set}, {"live_release", st.live_release},
            {"rollback_set", st.rollback_set}, {"since", st.cutover_at}};
  // What the proxy serves, asked through the public URL: the truth, whatever was persisted.
  auto backend = site.proxy()->current();
  std::string seen;
  std::string serving;
  if (!st.live_set.empty() && site.serves_publicly(st.live_set, &seen)) serving = st.live_set;
  else if (!st.rollback_set.empty() && site.serves_publicly(st.rollback_set)) serving = st.rollback_set;
  j["proxy"] = {{"kind", cfg.proxy.kind}, {"backend", backend ? backend->name : ""}, {"serving", serving}, {"public_answer", seen}};
  j["sets"] = describe_sets(site, st);
  j["last_operation"] = last_operation(site);
  j["last_rehearsal_run"] = last_operation(site, "last-rehearse");
  if (auto r = last_rehearsal(cfg))
    j["last_rehearsal"] = {{"at", r->started_at}, {"verdict", r->ok ? "ok" : "failed"}, {"target_release", r->target_release},
                           {"upgrade_s", r->upgrade_s}, {"window_estimate_s", r->window_estimate_s}, {"failed_step", r->failed_step}};
  else
    j["last_rehearsal"] = nullptr;
  auto holder = core::SiteLock::probe(cfg.lock_path());
  j["lock"] = holder ? json{{"pid", holder->pid}, {"command", holder->command}, {"since", holder->since}} : json(nullptr);
  if (as_json) {
    out << j.dump(2) << "\n";
    return 0;
  }
  out << fmt::format("site {}  ({})\n", cfg.site, cfg.public_url);
  out << fmt::format("live set         {}  {}  since {}\n", st.live_set.empty() ? "(none)" : st.live_set, st.live_release, st.cutover_at);
  out << fmt::format("rollback target  {}\n", st.rollback_set.empty() ? "(none)" : st.rollback_set);
  out << fmt::format("proxy            {} -> {} (public URL served by {})\n", cfg.proxy.kind, backend ? backend->name : "(not set up)",
                     serving.empty() ? "neither the live set nor the rollback target: " + seen : serving);
  if (!serving.empty() && serving != st.live_set) out << "WARNING: the public URL is served by " << serving << ", not by the live set recorded in site.json\n";
  else if (backend && backend->name != st.live_set) out << "WARNING: the proxy's saved state does not name the live set recorded in site.json\n";
  out << fmt::format("lock             {}\n", holder ? fmt::format("held by '{}' (pid {}) since {}", holder->command, holder->pid, holder->since) : "free");
  out << "sets:\n";
  for (const auto& s : j["sets"])
    out << fmt::format("  {:<32} {:<26} {:<16} web {:<8} db {:<8}{}\n", s["id"].get<std::string>(), s["release"].get<std::string>(),
                       s["role"].get<std::string>(), s["web"].get<std::string>(), s["db"].get<std::string>(),
                       s["maintenance"].get<bool>() ? "  (maintenance)" : "");
  const json& op = j["last_operation"];
  if (!op.is_null()) {
    out << fmt::format("last operation   {} {} ({})\n", op["operation"].get<std::string>(), op["outcome"].get<std::string>(), op["journal"].get<std::string>());
    if (op.contains("interrupted_step"))
      out << fmt::format("  INTERRUPTED at step '{}': run 'mupgrade cutover --resume' or 'mupgrade rollback'\n", op["interrupted_step"].get<std::string>());
    else if (op.contains("interrupted_after"))
      out << fmt::format("  INTERRUPTED after step '{}': run 'mupgrade cutover --resume' or 'mupgrade rollback'\n", op["interrupted_after"].get<std::string>());
    if (op.contains("left_to_undo"))
      out << fmt::format("  left to undo: {}: run 'mupgrade cutover --resume'\n", op["left_to_undo"].dump());
    for (const auto& s : op["steps"])
      out << fmt::format("  {:<24} {:>9.3f} s  {}{}\n", s["step"].get<std::string>(), s["seconds"].get<double>(),
                         s["outcome"].get<std::string>(), s["undone"].get<bool>() ? " (undone)" : "");
  }
  if (const json& r = j["last_rehearsal"]; !r.is_null())
    out << fmt::format("last rehearsal   {} -> {} at {}: {}\n", r["verdict"].get<std::string>(), r["target_release"].get<std::string>(),
                       r["at"].get<std::string>(),
                       r["verdict"] == "ok" ? fmt::format("upgrade {:.1f} s, window {:.1f} s", r["upgrade_s"].get<double>(), r["window_estimate_s"].get<double>())
                                            : "failed at '" + r["failed_step"].get<std::string>() + "'");
  if (const json& rr = j["last_rehearsal_run"]; !rr.is_null() && !rr["finished"].get<bool>())
    out << "  the last rehearsal was INTERRUPTED: the next 'mupgrade rehearse' or 'mupgrade prune' removes its clone\n";
  return 0;
}

int adopt(Site& site, const std::string& set, std::ostream& out) {
  const auto& cfg = site.config();
  core::SiteLock lock(cfg.lock_path(), cfg.site, "mupgrade adopt");
  if (auto st = site.state(); st && !st->live_set.empty())
    throw Error(fmt::format("site {} already has live set {}", cfg.site, st->live_set), "nothing to adopt: use cutover and rollback");
  auto p = site.paths(set);
  for (const auto& area : {p.db, p.moodledata, p.code})
    if (!site.ports().storage.is_subvolume(area))
      throw Error(fmt::format("{} is not a btrfs subvolume", area), "a set's db, moodledata and code must each be a subvolume under <pool>/sets/<id>/");
  if (!site.web_running(set)) throw Error(fmt::format("{} is not running", site.web_container(set)), "start the set before adopting it");
  auto backend = site.proxy()->current();
  if (!backend || backend->name != set)
    throw Error(fmt::format("the proxy does not send traffic to set {}", set), "run 'mupgrade proxy init' for this set first");
  core::SiteState st;
  st.live_set = set;
  st.live_release = site.db_config_value(set, "release");
  st.cutover_at = core::utc_now_iso();
  site.save_state(st);
  out << fmt::format("site {}: set {} ({}) is live.\n", cfg.site, set, st.live_release);
  return 0;
}

}  // namespace mupgrade::ops
