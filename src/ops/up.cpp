// `mupgrade up`: the site back after a reboot, a daemon restart or containers removed by
// someone. Under the site lock: refuses to guess past another operation's interrupted journal,
// finishes (or undoes) an interrupted `up` first, surveys what runs, and when something is
// missing or stopped runs the journaled steps of src/ops/steps/up.cpp.

#include "mupgrade/ops/up.hpp"
#include "preflight.hpp"

#include "mupgrade/core/atomic_file.hpp"
#include "mupgrade/core/site_lock.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ostream>

namespace mupgrade::ops {

using nlohmann::json;

namespace {

UpItem container_item(Site& site, const std::string& what, const std::string& name) {
  auto info = site.ports().containers.inspect_container(name);
  if (!info) return {what, name, "missing", "create"};
  if (!info->running) return {what, name, info->status.empty() ? "stopped" : info->status, "start"};
  return {what, name, "running", "none"};
}

void survey_set(Site& site, const std::string& set, const std::string& role, std::vector<UpItem>& items) {
  auto& containers = site.ports().containers;
  bool net = containers.network(site.set_network(set)).has_value();
  items.push_back({role + "'s network", site.set_network(set), net ? "present" : "missing", net ? "none" : "create"});
  items.push_back(container_item(site, role + "'s DB container", site.db_container(set)));
  items.push_back(container_item(site, role + "'s web container", site.web_container(set)));
  if (site.config().cache.enabled()) items.push_back(container_item(site, role + "'s cache container", site.cache_container(set)));
}

// Another operation's unfinished journal: `up` does not guess how to finish it.
void refuse_other_interrupted(const core::JournalSummary& j) {
  std::string why = !j.finished ? fmt::format("was interrupted at step '{}'", j.interrupted_step().value_or("?"))
                    : j.outcome == "undo-failed" ? std::string("failed and could not undo all of its steps")
                                                 : std::string("switched traffic but did not finish its later steps");
  throw Error(fmt::format("the last operation ({}) {}; 'mupgrade up' does not guess how to finish it", j.operation, why),
              "run 'mupgrade cutover --resume' to finish or undo it from its journal ('mupgrade status' shows where it stopped), then 'mupgrade up'");
}

std::string describe(const std::vector<UpItem>& items) {
  std::string s;
  size_t w = 0;
  for (const auto& i : items) w = std::max(w, i.what.size());
  for (const auto& i : items)
    s += fmt::format("  {:<{}}  {:<7}  {} ({})\n", i.what, w, i.action, i.found, i.name);
  return s;
}

UpOutcome up_locked(Site& site, const UpOptions& opts, Progress& progress, std::ostream& out, double started) {
  UpOutcome o;
  o.operation = "up";
  o.dry_run = opts.dry_run;
  auto state = require_live_set(site);
  StepContext ctx;
  ctx.operation = "up";
  ctx.progress = &progress;
  ctx.green = state.live_set;
  if (!site.set_exists(ctx.green))
    throw Error(fmt::format("the live set {} has no DB subvolume under {}", ctx.green, site.config().sets_dir()),
                "the site's data is not where site.json says: check the pool, or restore the set's subvolumes first");
  if (!state.rollback_set.empty()) {
    if (site.set_exists(state.rollback_set)) ctx.blue = state.rollback_set;
    else o.rollback_note = fmt::format("the rollback target {} no longer exists: only the live set is brought back", state.rollback_set);
  }
  o.green = ctx.green;
  o.blue = ctx.blue;
  o.items = survey_up(site, ctx.green, ctx.blue);
  o.changed = std::any_of(o.items.begin(), o.items.end(), [](const UpItem& i) { return i.action != "none"; });
  out << fmt::format("up of {}: live set {}{}\n", site.config().site, ctx.green, ctx.blue.empty() ? "" : ", rollback target " + ctx.blue);
  if (!o.rollback_note.empty()) out << o.rollback_note << "\n";
  out << describe(o.items);
  if (!o.changed) {
    o.serving = o.ok = true;
    out << "everything runs and the public URL answers from the live set: nothing changed.\n";
    return o;
  }
  auto steps = table_steps(site, ctx);
  if (ctx.blue.empty()) std::erase_if(steps, [](const core::Step& s) { return s.name == "start-rollback-target"; });
  if (opts.dry_run) {
    out << "steps (undone on failure before the proxy is pointed):\n" << core::render_plan(steps);
    o.ok = true;
    return o;
  }
  core::JournalWriter journal(site.new_journal_path("up"));
  o.journal = journal.path();
  o.take(run_steps(journal, ctx, steps, progress));
  o.switched = std::any_of(o.timings.begin(), o.timings.end(), [](const auto& t) { return t.name == step::switch_proxy && t.outcome == "ok"; });
  o.serving = o.ok && site.serves_publicly(ctx.green, &o.serving_detail);
  if (o.ok && !o.serving) {
    o.ok = false;
    o.failed_step = "confirm";
    o.error = fmt::format("the public URL answers {} after up, not 200 from {}", o.serving_detail, ctx.green);
    o.hint = "run 'mupgrade status'; 'docker logs " + site.config().proxy.container + "'";
  }
  o.record = record_of(site, o, started);
  report_outcome(site, *o.record, progress);
  return o;
}

}  // namespace

json UpOutcome::to_json() const {
  json j = Outcome::to_json();
  j["live"] = green;
  j["rollback_target"] = blue;
  j["changed"] = changed;
  j["dry_run"] = dry_run;
  j["serving"] = serving;
  j["seconds"] = seconds;
  j["rollback_note"] = rollback_note;
  j["items"] = json::array();
  for (const auto& i : items) j["items"].push_back(i.to_json());
  return j;
}

std::vector<UpItem> survey_up(Site& site, const std::string& live, const std::string& rollback) {
  const auto& cfg = site.config();
  std::vector<UpItem> items;
  bool net = site.ports().containers.network(cfg.network).has_value();
  items.push_back({"site network", cfg.network, net ? "present" : "missing", net ? "none" : "create"});
  survey_set(site, live, "live set", items);
  if (!rollback.empty()) {
    bool m = site.maintenance_file_present(rollback);
    items.push_back({"rollback target's maintenance", site.paths(rollback).maintenance_file(), m ? "present" : "missing", m ? "none" : "create"});
    survey_set(site, rollback, "rollback target", items);
  }
  auto current = site.proxy()->current();
  items.push_back({"proxy config", cfg.proxy.config_dir, current ? "points at " + current->name : "missing", current ? "none" : "install"});
  auto proxy = container_item(site, "proxy container", cfg.proxy.container);
  items.push_back(proxy);
  bool other_action = std::any_of(items.begin(), items.end(), [](const UpItem& i) { return i.action != "none"; });
  std::string seen = "not asked (the proxy does not run)";
  bool serving = proxy.action == "none" && site.serves_publicly(live, &seen);
  // After any change the proxy is pointed at the live web container's address again.
  items.push_back({"public URL", cfg.proxy.url, seen, serving && !other_action ? "none" : "switch"});
  return items;
}

UpOutcome up(Site& site, const UpOptions& opts, Progress& progress, std::ostream& out) {
  const auto& cfg = site.config();
  double started = epoch_seconds_now();
  core::SiteLock lock(cfg.lock_path(), cfg.site, "mupgrade up");
  if (auto last = site.last_journal_path(); !last.empty() && core::read_state_file(last)) {
    auto j = core::read_journal(last);
    if (unfinished(j)) {
      if (j.operation != "up") refuse_other_interrupted(j);
      if (opts.dry_run) {
        out << fmt::format("the last up was interrupted at step '{}': 'mupgrade up' finishes or undoes it first\n", j.interrupted_step().value_or("?"));
      } else {
        out << "the last up was interrupted: finishing or undoing it from its journal first\n";
        auto r = resume_locked(site, false, progress, out);
        if (!r.ok) {
          UpOutcome o;
          static_cast<Outcome&>(o) = r;
          o.operation = "up";
          return o;
        }
      }
    }
  }
  // A killed rehearsal never touched the live set: told, not refused.
  if (auto r = site.last_journal_path("last-rehearse"); !r.empty() && core::read_state_file(r) && unfinished(core::read_journal(r)))
    out << "note: a rehearsal was interrupted and left its clone: 'mupgrade prune' removes it\n";
  auto o = up_locked(site, opts, progress, out, started);
  o.seconds = epoch_seconds_now() - started;
  return o;
}

}  // namespace mupgrade::ops
