// decide_prune as tables: each case lists the items with their facts and what must happen.
#include "mupgrade/core/retention.hpp"

#include <gtest/gtest.h>

#include <algorithm>

using namespace mupgrade::core;

namespace {

constexpr unsigned long long GiB = 1ULL << 30;

// `exclusive`: what removing it frees, as prune measures it below the floor (nullopt: not measured).
Retainable item(ItemKind k, std::string id, double age_h, std::optional<unsigned long long> exclusive = std::nullopt) {
  Retainable r;
  r.kind = k;
  r.id = std::move(id);
  r.age_s = age_h * 3600;
  r.exclusive_bytes = exclusive;
  return r;
}
Retainable live(Retainable r) { r.live = true; return r; }
Retainable rollback(Retainable r) { r.rollback_target = true; return r; }
Retainable busy(Retainable r) { r.in_use_by = "the interrupted cutover"; return r; }
Retainable configured(Retainable r) { r.configured_target = true; return r; }

RetentionConfig policy(int sets, int clones = 1, int reports = 60, int max_age_days = 90, unsigned long long min_free = 0) {
  RetentionConfig p;
  p.keep_sets = sets;
  p.keep_clones = clones;
  p.keep_reports = reports;
  p.max_report_age_days = max_age_days;
  p.min_free_bytes = min_free;
  return p;
}

struct Case {
  const char* name;
  std::vector<Retainable> items;
  RetentionConfig policy;
  unsigned long long free;
  std::vector<std::string> removed;  // ids, any order
  bool still_short = false;
  Shortfall shortfall = Shortfall::none;
  std::optional<unsigned long long> site_bytes = std::nullopt;  // what the pool dir holds
};

std::vector<std::string> removed_ids(const PrunePlan& p) {
  std::vector<std::string> ids;
  for (const auto& d : p.decisions)
    if (d.remove) ids.push_back(d.item.id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace

TEST(RetentionTest, Table) {
  const auto S = ItemKind::set, C = ItemKind::clone, R = ItemKind::report, T = ItemKind::target;
  std::vector<Case> cases = {
      {"nothing to do", {live(item(S, "s3", 1)), rollback(item(S, "s2", 5))}, policy(3), 100 * GiB, {}},
      {"oldest sets beyond keep_sets go",
       {live(item(S, "s4", 1)), rollback(item(S, "s3", 2)), item(S, "s2", 3), item(S, "s1", 4), item(S, "s0", 5)}, policy(3), 100 * GiB,
       {"s0", "s1"}},
      {"live and rollback target stay even when they are the oldest, and count toward keep_sets",
       {item(S, "new1", 1), item(S, "new2", 2), item(S, "new3", 3), rollback(item(S, "old", 50)), live(item(S, "older", 60))}, policy(3), 100 * GiB,
       {"new2", "new3"}},
      {"an old live set alone leaves keep_sets - 1 newer sets", {item(S, "n1", 1), item(S, "n2", 2), item(S, "n3", 3), live(item(S, "l", 9))},
       policy(3), 100 * GiB, {"n3"}},
      {"a set an interrupted operation names stays", {live(item(S, "a", 1)), rollback(item(S, "b", 2)), busy(item(S, "c", 3))}, policy(2), 100 * GiB, {}},
      {"clones beyond keep_clones go, newest kept", {item(C, "c1", 1), item(C, "c2", 2), item(C, "c3", 3)}, policy(3, 1), 100 * GiB, {"c2", "c3"}},
      {"keep_clones 0 removes every clone", {item(C, "c1", 1)}, policy(3, 0), 100 * GiB, {"c1"}},
      {"reports by count", {item(R, "r1", 1), item(R, "r2", 2), item(R, "r3", 3)}, policy(3, 1, 2), 100 * GiB, {"r3"}},
      {"reports by age, but the newest always stays", {item(R, "r1", 24 * 100), item(R, "r2", 24 * 95), item(R, "r3", 1)}, policy(3, 1, 60, 90),
       100 * GiB, {"r1", "r2"}},
      {"short of space: clones first, then the oldest sets, never protected ones",
       {live(item(S, "s3", 1, 5 * GiB)), rollback(item(S, "s2", 2, 5 * GiB)), item(S, "s1", 3, 5 * GiB), item(C, "c1", 1, 1 * GiB)},
       policy(3, 1, 60, 90, 10 * GiB), 5 * GiB, {"c1", "s1"}},
      {"short of space, enough after the clone", {live(item(S, "s3", 1)), item(S, "s1", 3, 5 * GiB), item(C, "c1", 1, 6 * GiB)},
       policy(3, 1, 60, 90, 10 * GiB), 5 * GiB, {"c1"}},
      {"still short when only protected sets are left", {live(item(S, "s3", 1, 5 * GiB)), rollback(item(S, "s2", 2, 5 * GiB))},
       policy(3, 1, 60, 90, 10 * GiB), 1 * GiB, {}, true, Shortfall::not_removable, 10 * GiB},
      // The bug: sets snapshotted from the live one were projected at their whole size, so with
      // another site's data filling the pool prune spent this site's kept sets for nothing.
      {"another site's data fills the pool: nothing kept is proposed",
       {live(item(S, "s4", 1)), rollback(item(S, "s3", 2)), item(S, "s2", 30, 40ULL << 20), item(S, "s1", 60, 60ULL << 20), item(C, "c1", 1, 5ULL << 20)},
       policy(4, 1, 60, 90, 2 * GiB), GiB / 2, {}, true, Shortfall::outside, GiB},
      {"short, but what the floor may take would not win it back: nothing taken",
       {live(item(S, "s3", 1)), item(S, "s2", 2, GiB), item(S, "s1", 3, GiB)}, policy(3, 1, 60, 90, 4 * GiB), GiB, {}, true,
       Shortfall::not_removable, 6 * GiB},
      {"a set whose removal frees nothing is not taken for the floor, an older one that frees enough is",
       {live(item(S, "s3", 1)), item(S, "s2", 2, 0), item(S, "s1", 3, 2 * GiB)}, policy(3, 1, 60, 90, 2 * GiB), GiB, {"s1"}, false,
       Shortfall::none, 5 * GiB},
      {"a set not measured is never taken for the floor", {live(item(S, "s3", 1)), item(S, "s2", 2)}, policy(3, 1, 60, 90, 2 * GiB), GiB, {},
       true, Shortfall::not_removable},
      {"extracted releases: only the configured one stays, even when older", {configured(item(T, "git-new", 30)), item(T, "git-old", 1), item(T, "image-x", 2)},
       policy(3), 100 * GiB, {"git-old", "image-x"}},
  };
  for (const auto& c : cases) {
    auto plan = decide_prune(c.items, c.policy, PoolSpace{100 * GiB, c.free, c.site_bytes});
    auto want = c.removed;
    std::sort(want.begin(), want.end());
    EXPECT_EQ(removed_ids(plan), want) << c.name;
    EXPECT_EQ(plan.still_short, c.still_short) << c.name;
    EXPECT_EQ(plan.shortfall, c.shortfall) << c.name;
    EXPECT_EQ(plan.decisions.size(), c.items.size()) << c.name;
    for (const auto& d : plan.decisions) {
      EXPECT_FALSE(d.reason.empty()) << c.name << ": " << d.item.id;
      if (d.item.live || d.item.rollback_target || d.item.configured_target || !d.item.in_use_by.empty()) {
        EXPECT_FALSE(d.remove) << c.name << ": " << d.item.id;
      }
    }
  }
}

TEST(RetentionTest, SpaceRemovalsAreMarkedAndSaySo) {
  auto plan = decide_prune({live(item(ItemKind::set, "s2", 1)), item(ItemKind::set, "s1", 2, 3 * GiB)}, policy(3, 1, 60, 90, 4 * GiB), PoolSpace{100 * GiB, GiB, std::nullopt});
  ASSERT_TRUE(plan.decisions[1].remove);
  EXPECT_TRUE(plan.decisions[1].only_while_short);
  EXPECT_NE(plan.decisions[1].reason.find("free space 1.0 GiB is below the floor of 4.0 GiB (retention.min_free_gb); frees 3.0 GiB"),
            std::string::npos)
      << plan.decisions[1].reason;
}
