#pragma once
// What `mupgrade prune` removes: a pure decision over the site's sets, rehearsal clones and
// reports, by count, age and free space. It never picks the live set, the rollback target,
// or anything an operation is using.

#include "mupgrade/core/site_config.hpp"

#include <optional>
#include <string>
#include <vector>

namespace mupgrade::core {

// target: a release extracted from git or an image (<pool>/targets); sets hold their own
// snapshots of it, so only the one the config names now is worth keeping.
enum class ItemKind { set, clone, report, target };
std::string_view to_string(ItemKind k);

struct Retainable {
  ItemKind kind = ItemKind::set;
  std::string id;
  double age_s = 0;               // since it was made
  /// What removing it frees: its extents no other subvolume shares (a set snapshotted from the
  /// live one frees only what changed since). nullopt: not measured (prune measures only when
  /// the pool is below the floor); the floor then never picks it.
  std::optional<unsigned long long> exclusive_bytes;
  bool live = false;
  bool rollback_target = false;
  bool configured_target = false; // the extracted release the site config names now
  std::string in_use_by;          // operation using it ("" = none)
};

/// The filesystem holding the pool, and this site's part of it, as prune measured them.
struct PoolSpace {
  unsigned long long total_bytes = 0;
  unsigned long long free_bytes = 0;
  /// What this site's pool dir holds on the filesystem, each shared extent once (nullopt: not
  /// measured). It tells whose data the shortfall is.
  std::optional<unsigned long long> site_bytes;
};

/// Why the pool stays below the floor after the plan (when it does).
enum class Shortfall {
  none,
  outside,       // even with all of this site's data gone the pool would be below the floor: other data fills it
  not_removable, // this site's own data, but what retention lets go would not win the floor back
};

struct PruneDecision {
  Retainable item;
  bool remove = false;
  std::string reason;
  /// Picked only because free space is below the floor: removed oldest first, and only while
  /// the pool is still short (the caller re-measures after each).
  bool only_while_short = false;
};

struct PrunePlan {
  std::vector<PruneDecision> decisions;  // one per item: newest first within each kind
  unsigned long long projected_free = 0;
  bool still_short = false;  // free space stays below the floor after the plan
  Shortfall shortfall = Shortfall::none;
  /// What the items the floor may take (not protected, not removed by count) would free.
  unsigned long long reclaimable_bytes = 0;
};

/// The floor (retention.min_free_bytes) takes this site's unprotected clones, then sets, oldest
/// first, only when what they would free (exclusive bytes) wins the floor back; otherwise it
/// takes nothing and says why (Shortfall): a set is never spent on space that stays short, as
/// when another site's data fills the pool (then free + site_bytes is below the floor too).
PrunePlan decide_prune(std::vector<Retainable> items, const RetentionConfig& policy, const PoolSpace& space);

}  // namespace mupgrade::core
