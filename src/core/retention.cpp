#include "mupgrade/core/retention.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace mupgrade::core {

std::string_view to_string(ItemKind k) {
  switch (k) {
    case ItemKind::set: return "set";
    case ItemKind::clone: return "clone";
    case ItemKind::report: return "report";
    case ItemKind::target: return "target";
  }
  return "?";
}

namespace {

std::string gib(unsigned long long b) { return fmt::format("{:.1f} GiB", double(b) / double(1ULL << 30)); }
std::string size_text(unsigned long long b) { return b >= (1ULL << 30) ? gib(b) : fmt::format("{:.1f} MiB", double(b) / double(1ULL << 20)); }

// Why an item may never be removed, or "".
std::string protection(const Retainable& r) {
  if (r.live) return "the live set";
  if (r.rollback_target) return "the rollback target";
  if (!r.in_use_by.empty()) return "in use by " + r.in_use_by;
  if (r.configured_target) return "the target the site config names";
  return "";
}

}  // namespace

PrunePlan decide_prune(std::vector<Retainable> items, const RetentionConfig& policy, const PoolSpace& space) {
  // Newest first within each kind; kinds in the order set, clone, report, target.
  std::stable_sort(items.begin(), items.end(), [](const Retainable& a, const Retainable& b) {
    if (a.kind != b.kind) return a.kind < b.kind;
    return a.age_s < b.age_s;
  });
  PrunePlan plan;
  // The live set and the rollback target count toward keep_sets wherever they sort: keep_sets 3
  // with both present keeps one more set, the newest.
  int sets = 0, clones = 0, reports = 0;
  for (const auto& it : items)
    if (it.kind == ItemKind::set && !protection(it).empty()) ++sets;
  for (auto& it : items) {
    PruneDecision d{it, false, ""};
    if (auto p = protection(it); !p.empty()) {
      d.reason = p;
    } else if (it.kind == ItemKind::set) {
      d.remove = ++sets > policy.keep_sets;
      d.reason = d.remove ? fmt::format("beyond the newest {} sets (retention.keep_sets)", policy.keep_sets) : "within retention.keep_sets";
    } else if (it.kind == ItemKind::clone) {
      d.remove = ++clones > policy.keep_clones;
      d.reason = d.remove ? fmt::format("beyond the newest {} clones (retention.keep_clones)", policy.keep_clones) : "within retention.keep_clones";
    } else if (it.kind == ItemKind::target) {
      d.remove = true;
      d.reason = "an extracted release the config no longer names (sets keep their own snapshots)";
    } else {
      ++reports;
      double max_age = policy.max_report_age_days * 86400.0;
      if (reports > policy.keep_reports) {
        d.remove = true;
        d.reason = fmt::format("beyond the newest {} reports (retention.keep_reports)", policy.keep_reports);
      } else if (reports > 1 && it.age_s > max_age) {  // the newest report always stays: plan reads it
        d.remove = true;
        d.reason = fmt::format("older than {} days (retention.max_report_age_days)", policy.max_report_age_days);
      } else {
        d.reason = "within retention";
      }
    }
    plan.decisions.push_back(std::move(d));
  }

  plan.projected_free = space.free_bytes;
  for (const auto& d : plan.decisions)
    if (d.remove) plan.projected_free += d.item.exclusive_bytes.value_or(0);
  if (plan.projected_free >= policy.min_free_bytes) return plan;

  // Short of space. The floor may take unprotected clones, then sets, oldest first, and only
  // those whose removal frees something; all or nothing, so a kept set is never removed for
  // space that stays short anyway.
  std::vector<PruneDecision*> picks;
  for (ItemKind kind : {ItemKind::clone, ItemKind::set})
    for (auto it = plan.decisions.rbegin(); it != plan.decisions.rend(); ++it)
      if (it->item.kind == kind && !it->remove && protection(it->item).empty() && it->item.exclusive_bytes.value_or(0) > 0) {
        picks.push_back(&*it);
        plan.reclaimable_bytes += *it->item.exclusive_bytes;
      }
  plan.still_short = true;
  bool outside = space.site_bytes && space.free_bytes + *space.site_bytes < policy.min_free_bytes;
  if (outside || plan.projected_free + plan.reclaimable_bytes < policy.min_free_bytes) {
    plan.shortfall = outside ? Shortfall::outside : Shortfall::not_removable;
    return plan;
  }
  for (auto* d : picks) {
    if (plan.projected_free >= policy.min_free_bytes) break;
    d->remove = true;
    d->only_while_short = true;
    d->reason = fmt::format("free space {} is below the floor of {} (retention.min_free_gb); frees {}", gib(space.free_bytes),
                            gib(policy.min_free_bytes), size_text(*d->item.exclusive_bytes));
    plan.projected_free += *d->item.exclusive_bytes;
  }
  plan.still_short = false;
  return plan;
}

}  // namespace mupgrade::core
