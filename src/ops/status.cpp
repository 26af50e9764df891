// `mupgrade status` and `mupgrade adopt --set`.

#include "mupgrade/core/atomic_file.hpp"
#include "mupgrade/core/site_lock.hpp"
#include "mupgrade/ops/adopt.hpp"
#include "mupgrade/ops/operations.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <ostream>

namespace mupgrade::ops {

using nlohmann::json;

namespace {

std::vector<SetStatus> describe_sets(Site& site, const core::SiteState& st) {
  std::vector<SetStatus> sets;
  auto& storage = site.ports().storage;
  for (const auto& id : storage.list_dir(site.config().sets_dir())) {
    SetStatus s;
    s.id = id;
    auto p = site.paths(id);
    try {
      s.release = site.code_version(p.code).release;
    } catch (const std::exception&) {
      s.release = "?";
    }
    s.role = id == st.live_set ? "live" : id == st.rollback_set ? "rollback target" : "kept";
    if (storage.is_subvolume(p.db)) s.created = fmt::format("{:%Y-%m-%d %H:%M}", fmt::gmtime(std::chrono::system_clock::to_time_t(storage.created(p.db))));
    auto web = site.ports().containers.inspect_container(site.web_container(id));
    auto db = site.ports().containers.inspect_container(site.db_container(id));
    s.web = web ? web->status : "absent";
    s.db = db ? db->status : "absent";
    s.maintenance = site.maintenance_file_present(id);
    sets.push_back(s);
  }
  return sets;
}

std::optional<OperationStatus> last_operation(Site& site, const std::string& pointer) {
  std::string path = site.last_journal_path(pointer);
  if (path.empty() || !core::read_state_file(path)) return std::nullopt;
  return operation_status(path, core::read_journal(path));
}

json operation_json(const std::optional<OperationStatus>& o) {
  if (!o) return nullptr;
  json steps = json::array();
  for (const auto& s : o->steps)
    steps.push_back({{"step", s.name}, {"seconds", s.seconds}, {"outcome", s.outcome},
                     {"undone", std::find(o->undone.begin(), o->undone.end(), s.name) != o->undone.end()}});
  json j = {{"operation", o->operation}, {"started", o->started}, {"journal", o->journal}, {"finished", o->finished}, {"outcome", o->outcome}, {"steps", steps}};
  if (!o->interrupted_step.empty()) j["interrupted_step"] = o->interrupted_step;
  if (!o->interrupted_after.empty()) j["interrupted_after"] = o->interrupted_after;
  if (!o->left_to_undo.empty()) j["left_to_undo"] = o->left_to_undo;
  if (!o->recovery.empty()) j["recovery"] = o->recovery;
  return j;
}

}  // namespace

OperationStatus operation_status(const std::string& path, const core::JournalSummary& j) {
  OperationStatus o;
  o.operation = j.operation;
  o.started = j.started_at;
  o.journal = path;
  o.finished = j.finished;
  o.outcome = j.finished ? j.outcome : "interrupted";
  for (const auto& s : j.steps) {
    o.steps.push_back({s.name, core::Phase::prepare, s.seconds, s.ended ? s.outcome : "INTERRUPTED"});
    if (s.undone) o.undone.push_back(s.name);
    if (s.undo_failed) o.left_to_undo.push_back(s.name);
  }
  if (auto i = j.interrupted_step()) o.interrupted_step = *i;
  else if (!j.finished && !j.steps.empty()) o.interrupted_after = j.steps.back().name;
  return o;
}

StatusReport status(Site& site) {
  const auto& cfg = site.config();
  auto st = site.state().value_or(core::SiteState{});
  StatusReport r;
  r.site = cfg.site;
  r.public_url = cfg.public_url;
  r.live_set = st.live_set;
  r.live_release = st.live_release;
  r.rollback_set = st.rollback_set;
  r.since = st.cutover_at;
  r.proxy_kind = core::to_string(cfg.proxy.kind);
  if (auto backend = site.proxy()->current()) r.proxy_backend = backend->name;
  // What the proxy serves, asked through the public URL: the truth, whatever was persisted.
  if (!st.live_set.empty() && site.serves_publicly(st.live_set, &r.public_answer)) r.serving = st.live_set;
  else if (!st.rollback_set.empty() && site.serves_publicly(st.rollback_set)) r.serving = st.rollback_set;
  r.sets = describe_sets(site, st);
  r.last_operation = last_operation(site, "last");
  r.last_rehearsal_run = last_operation(site, "last-rehearse");
  // adopt journals apart ("adopt"): one killed in its last step, after the config, shows here.
  r.adoption = unfinished_adoption(cfg.state_dir);
  r.last_rehearsal = last_rehearsal(cfg);
  r.lock = core::SiteLock::probe(cfg.lock_path());
  return r;
}

json StatusReport::to_json() const {
  json sets_json = json::array();
  for (const auto& s : sets)
    sets_json.push_back({{"id", s.id}, {"release", s.release}, {"role", s.role}, {"created", s.created}, {"web", s.web}, {"db", s.db}, {"maintenance", s.maintenance}});
  json rh = nullptr;
  if (last_rehearsal)
    rh = {{"at", last_rehearsal->started_at}, {"verdict", last_rehearsal->ok ? "ok" : "failed"}, {"target_release", last_rehearsal->target_release},
          {"upgrade_s", last_rehearsal->upgrade_s}, {"window_estimate_s", last_rehearsal->window_estimate_s}, {"failed_step", last_rehearsal->failed_step}};
  json j = {{"site", site}, {"configured", configured}, {"live_set", live_set}, {"live_release", live_release}, {"rollback_set", rollback_set}, {"since", since},
          {"proxy", {{"kind", proxy_kind}, {"backend", proxy_backend}, {"serving", serving}, {"public_answer", public_answer}}},
          {"sets", sets_json}, {"last_operation", operation_json(last_operation)}, {"last_rehearsal_run", operation_json(last_rehearsal_run)},
          {"last_rehearsal", rh}, {"adoption", operation_json(adoption)},
          {"lock", lock ? json{{"pid", lock->pid}, {"command", lock->command}, {"since", lock->since}} : json(nullptr)}};
  if (!configured) j["config_file"] = config_file;
  return j;
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
