#pragma once
// What `mupgrade prune` removes: a pure decision over the site's sets, rehearsal clones and
// reports, by count, age and free space. It never picks the live set, the rollback target,
// or anything an operation is using.

#include "mupgrade/core/site_config.hpp"

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
  unsigned long long bytes = 0;   // what removing it frees, at most (shared extents make it less)
  bool live = false;
  bool rollback_target = false;
  bool configured_target = false; // the extracted release the site config names now
  std::string in_use_by;          // operation using it ("" = none)
};

struct PruneDecision {
  Retainable item;
  bool remove = false;
  std::string reason;
  /// Picked only because free space is below the floor: removed oldest first, and only while
  /// the pool is still short (sizes of snapshots are estimates; the caller re-measures).
  bool only_while_short = false;
};

struct PrunePlan {
  std::vector<PruneDecision> decisions;  // one per item: newest first within each kind
  unsigned long long projected_free = 0;
  bool still_short = false;  // free space stays below the floor even after every allowed removal
};

PrunePlan decide_prune(std::vector<Retainable> items, const RetentionConfig& policy, unsigned long long free_bytes);

}  // namespace mupgrade::core
