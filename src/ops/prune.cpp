// `mupgrade prune`: removes old sets, rehearsal clones and reports by the site's retention
// policy (core::decide_prune decides; this file measures and removes). Never the live set,
// the rollback target, or a set an interrupted operation still needs.

#include "mupgrade/ops/operations.hpp"
#include "mupgrade/ops/plans.hpp"
#include "mupgrade/ops/target.hpp"
#include "preflight.hpp"

#include "mupgrade/core/atomic_file.hpp"
#include "mupgrade/core/site_lock.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ostream>
#include <set>

namespace mupgrade::ops {

namespace {

unsigned long long free_bytes(Site& site) { return site.ports().storage.space(site.config().pool).free_bytes; }

std::string size_text(unsigned long long b) {
  return b >= (1ULL << 30) ? fmt::format("{:.1f} GiB", double(b) / double(1ULL << 30)) : fmt::format("{:.0f} MiB", double(b) / double(1ULL << 20));
}

// Only below the floor: what the pool dir holds (each shared extent once) and what each item the
// floor may take would free. Both read every file's extent map, so a pool with room skips them.
void measure_for_floor(Site& site, std::vector<core::Retainable>& items, core::PoolSpace& space) {
  const auto& cfg = site.config();
  auto& storage = site.ports().storage;
  storage.sync(cfg.pool);  // freed and delayed extents show in the counts
  auto fs = storage.space(cfg.pool);
  space = {fs.total_bytes, fs.free_bytes, storage.disk_usage(cfg.pool).distinct_bytes};
  for (auto& r : items) {
    if (r.live || r.rollback_target || r.configured_target || !r.in_use_by.empty()) continue;
    if (r.kind == core::ItemKind::set) r.exclusive_bytes = storage.disk_usage(cfg.sets_dir() + "/" + r.id).exclusive_bytes;
    if (r.kind == core::ItemKind::clone) r.exclusive_bytes = storage.disk_usage(cfg.clones_dir() + "/" + r.id).exclusive_bytes;
    if (r.kind == core::ItemKind::target) r.exclusive_bytes = storage.disk_usage(cfg.pool + "/targets/" + r.id).exclusive_bytes;
  }
}

// What else lives beside the pool dir (other sites' pools, usually): names only, reading their
// sizes would walk other sites' data.
std::string beside_pool(Site& site) {
  std::string pool = site.config().pool;
  auto slash = pool.find_last_of('/');
  if (slash == std::string::npos || slash == 0) return "";
  std::vector<std::string> names;
  for (const auto& n : site.ports().storage.list_dir(pool.substr(0, slash)))
    if (n != pool.substr(slash + 1)) names.push_back(n);
  if (names.empty()) return "";
  std::string text;
  for (size_t i = 0; i < names.size() && i < 5; ++i) text += (i ? ", " : "") + names[i];
  if (names.size() > 5) text += fmt::format(" and {} more", names.size() - 5);
  return fmt::format(" (beside it in {}: {})", pool.substr(0, slash), text);
}

// Below the floor after the plan: how much is this site's, how much is not, and what to do.
void report_shortfall(Site& site, const core::PrunePlan& plan, const core::PoolSpace& space, std::ostream& out) {
  const auto& cfg = site.config();
  unsigned long long used = space.total_bytes > space.free_bytes ? space.total_bytes - space.free_bytes : 0;
  out << fmt::format("warning: {} free on the filesystem holding {} ({} in all), below retention.min_free_gb ({})\n",
                     size_text(space.free_bytes), cfg.pool, size_text(space.total_bytes), size_text(cfg.retention.min_free_bytes));
  if (space.site_bytes) {
    unsigned long long mine = std::min(*space.site_bytes, used);
    out << fmt::format("  this site's {} holds {} of the {} in use; the other {} is outside it{}\n", cfg.pool, size_text(mine),
                       size_text(used), size_text(used - mine), beside_pool(site));
  }
  out << fmt::format("  this site's sets and clones that retention does not protect would free {}\n", size_text(plan.reclaimable_bytes));
  if (plan.shortfall == core::Shortfall::outside)
    out << "  the data outside this site fills the pool: nothing this site keeps is removed for space it would not win back\n"
           "hint: free space where the other data lives (e.g. 'mupgrade prune' of the site beside it), grow the filesystem, or lower retention.min_free_gb\n";
  else
    out << "  removing what this site keeps would not reach the floor: nothing kept is removed for it\n"
           "hint: grow the filesystem, lower retention.keep_sets, or lower retention.min_free_gb\n";
}

std::string human_age(double s) {
  if (s < 3600) return fmt::format("{:.0f} min", s / 60);
  if (s < 172800) return fmt::format("{:.1f} h", s / 3600);
  return fmt::format("{:.0f} d", s / 86400);
}

// Sets named by an interrupted operation's journal stay until it is finished.
void mark_in_use(Site& site, const std::string& pointer, std::vector<core::Retainable>& items) {
  std::string last = site.last_journal_path(pointer);
  if (last.empty() || !core::read_state_file(last)) return;
  auto j = core::read_journal(last);
  if (j.finished) return;
  for (auto& it : items)
    if (it.id == j.args.value("green", "") || it.id == j.args.value("blue", "") || it.id == j.args.value("from", "") ||
        it.id == j.args.value("to", ""))
      it.in_use_by = "the interrupted " + j.operation;
}

// A plan takes seconds (a minute on a slow copy) and holds no lock: a probe under
// <pool>/probes older than this was left by a killed plan; a younger one may be a running plan's.
constexpr double kStaleProbeAge_s = 3600;

std::string probes_dir(Site& site) { return site.config().pool + "/probes"; }

// The probes a killed plan left: older than kStaleProbeAge_s.
std::vector<std::string> stale_probes(Site& site) {
  auto& storage = site.ports().storage;
  std::vector<std::string> out;
  for (const auto& id : storage.list_dir(probes_dir(site)))
    if (storage.age_seconds(probes_dir(site) + "/" + id) > kStaleProbeAge_s) out.push_back(id);
  return out;
}

// Containers and networks of this site (found by its own, non-empty label) that no set on disk
// accounts for, or throwaway ones (verify-target, target extraction) a killed run left: never
// those of a set an interrupted operation still names.
struct Orphans {
  std::vector<std::string> containers, networks;
};

Orphans find_orphans(Site& site, const std::vector<core::Retainable>& items, const std::vector<std::string>& stale) {
  const auto& cfg = site.config();
  auto& storage = site.ports().storage;
  std::set<std::string> protected_sets;
  for (const auto& it : items)
    if (!it.in_use_by.empty()) protected_sets.insert(it.id);
  auto accounted = [&](const std::string& set) {
    return protected_sets.count(set) || storage.is_directory(site.paths(set).dir);
  };
  Orphans o;
  for (const auto& c : site.ports().containers.list_containers({{"mupgrade.site", cfg.site}}, true)) {
    std::string set = c.labels.count("mupgrade.set") ? c.labels.at("mupgrade.set") : "";
    std::string role = c.labels.count("mupgrade.role") ? c.labels.at("mupgrade.role") : "";
    if (role == "proxy" || c.name == cfg.proxy.container) continue;
    if (role == "probe") {  // a plan's: its own probe dir says whether a plan may still run it
      if (!storage.exists(probes_dir(site) + "/" + set) || std::find(stale.begin(), stale.end(), set) != stale.end()) o.containers.push_back(c.name);
      continue;
    }
    bool throwaway = role == "verify" || role == "target";
    if ((throwaway && !protected_sets.count(set)) || (!set.empty() && !accounted(set))) o.containers.push_back(c.name);
  }
  for (const auto& n : site.ports().containers.list_networks({{"mupgrade.site", cfg.site}})) {
    std::string set = n.labels.count("mupgrade.set") ? n.labels.at("mupgrade.set") : "";
    if (!set.empty() && !accounted(set)) o.networks.push_back(n.name);
  }
  return o;
}

}  // namespace

int prune(Site& site, const PruneOptions& opts, std::ostream& out) {
  const auto& cfg = site.config();
  core::SiteLock lock(cfg.lock_path(), cfg.site, "mupgrade prune");
  require_pool(site);
  if (!opts.dry_run) finish_interrupted_rehearsal(site, out);
  auto state = site.state();
  auto& storage = site.ports().storage;
  std::vector<core::Retainable> items;
  for (const auto& [dir, kind] : {std::pair{cfg.sets_dir(), core::ItemKind::set}, std::pair{cfg.clones_dir(), core::ItemKind::clone}})
    for (const auto& id : storage.list_dir(dir)) {
      std::string path = dir + "/" + id;
      if (!storage.is_directory(path)) continue;
      core::Retainable r;
      r.kind = kind;
      r.id = id;
      r.age_s = storage.age_seconds(path);
      r.live = state && r.id == state->live_set;
      r.rollback_target = state && r.id == state->rollback_set;
      items.push_back(r);
    }
  mark_in_use(site, "last", items);
  mark_in_use(site, "last-rehearse", items);
  for (const auto& f : rehearsal_report_files(cfg)) {
    core::Retainable r;
    r.kind = core::ItemKind::report;
    std::string name = f.substr(f.rfind('/') + 1);
    r.id = name.substr(0, name.size() - 5);  // without .json
    r.age_s = storage.age_seconds(f);
    items.push_back(r);
  }

  std::string configured;
  try {
    configured = resolve_target(site, "").code_dir;
  } catch (const Error&) {  // no target, or one that cannot be read: every extraction is old
  }
  for (const auto& id : storage.list_dir(cfg.pool + "/targets")) {
    std::string path = cfg.pool + "/targets/" + id;
    if (!storage.is_subvolume(path)) continue;
    core::Retainable r;
    r.kind = core::ItemKind::target;
    r.id = id;
    r.age_s = storage.age_seconds(path);
    r.configured_target = path == configured;
    items.push_back(r);
  }

  auto fs = storage.space(cfg.pool);
  core::PoolSpace space{fs.total_bytes, fs.free_bytes, std::nullopt};
  if (space.free_bytes < cfg.retention.min_free_bytes) measure_for_floor(site, items, space);
  auto plan = core::decide_prune(items, cfg.retention, space);
  auto probes = stale_probes(site);
  auto orphans = find_orphans(site, items, probes);
  out << fmt::format("{:<7} {:<48} {:>8}  {:<7} {}\n", "kind", "id", "age", "action", "why");
  for (const auto& d : plan.decisions)
    out << fmt::format("{:<7} {:<48} {:>8}  {:<7} {}\n", core::to_string(d.item.kind), d.item.id, human_age(d.item.age_s),
                       d.remove ? (opts.dry_run ? "would rm" : "remove") : "keep", d.reason);
  for (const auto& [kind, names] : {std::pair{"orphan container", &orphans.containers}, std::pair{"orphan network", &orphans.networks}})
    for (const auto& n : *names)
      out << fmt::format("{:<7} {:<48} {:>8}  {:<7} {}\n", "orphan", n, "", opts.dry_run ? "would rm" : "remove",
                         std::string(kind) + ": no set on disk names it, or a killed run's throwaway");
  for (const auto& id : probes)
    out << fmt::format("{:<7} {:<48} {:>8}  {:<7} {}\n", "probe", id, human_age(storage.age_seconds(probes_dir(site) + "/" + id)),
                       opts.dry_run ? "would rm" : "remove", "a killed plan's probe (older than an hour; a plan takes seconds)");
  if (plan.shortfall != core::Shortfall::none) report_shortfall(site, plan, space, out);
  if (opts.dry_run) {
    out << "dry run: nothing removed.\n";
    return 0;
  }
  int removed = 0;
  for (const auto& c : orphans.containers) {
    site.ports().containers.remove_container(c, true);
    ++removed;
  }
  for (const auto& n : orphans.networks) {
    for (const auto& c : site.ports().containers.list_containers({{"mupgrade.site", cfg.site}}, true))
      if (c.network_ips.count(n)) site.ports().containers.disconnect_network(n, c.name);
    site.ports().containers.remove_network(n);
    ++removed;
  }
  for (const auto& id : probes) {
    std::string dir = probes_dir(site) + "/" + id;
    for (const auto& sub : {dir + "/code", dir + "/moodledata"}) site.delete_if_subvolume(sub);
    storage.remove_tree(dir);
    ++removed;
  }
  if (!probes.empty() && storage.list_dir(probes_dir(site)).empty()) storage.remove(probes_dir(site));
  for (auto it = plan.decisions.rbegin(); it != plan.decisions.rend(); ++it) {  // oldest first
    const auto& d = *it;
    if (!d.remove) continue;
    if (d.only_while_short && free_bytes(site) >= cfg.retention.min_free_bytes) continue;
    if (d.item.live || d.item.rollback_target || d.item.configured_target || !d.item.in_use_by.empty()) throw Error("prune picked a protected item: " + d.item.id);
    if (d.item.kind == core::ItemKind::target) {
      storage.delete_subvolume(cfg.pool + "/targets/" + d.item.id);
    } else if (d.item.kind == core::ItemKind::report) {
      std::string base = cfg.reports_dir() + "/" + d.item.id;
      core::remove_state_file(base + ".json");
      core::remove_state_file(base + ".txt");
    } else {
      site.remove_set(d.item.id);
      if (d.only_while_short) storage.sync(cfg.pool);  // let the freed space show before measuring again
    }
    ++removed;
  }
  out << fmt::format("removed {} item(s); {:.1f} GiB free in {}.\n", removed, double(free_bytes(site)) / double(1ULL << 30), cfg.pool);
  if (plan.shortfall == core::Shortfall::none && free_bytes(site) < cfg.retention.min_free_bytes)
    out << fmt::format("warning: free space is still below retention.min_free_gb ({:.0f} GiB): grow the pool or lower keep_sets\n",
                       double(cfg.retention.min_free_bytes) / double(1ULL << 30));
  return 0;
}

}  // namespace mupgrade::ops
