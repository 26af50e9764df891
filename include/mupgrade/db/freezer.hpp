#pragma once
// Makes a filesystem snapshot of a live DB data dir consistent, holding writes only for
// the snapshot instant.

#include "mupgrade/db/sql_client.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace mupgrade::db {

struct FreezeReport {
  std::string method;                 // what held the writes
  std::chrono::microseconds held{0};  // how long writers were blocked
};

class Freezer {
public:
  virtual ~Freezer() = default;
  /// Before the window: have the server write out dirty pages, so the freeze is short and a
  /// DB started on the snapshot spends little time in crash recovery. Seconds, not millis.
  virtual void prepare() = 0;
  /// Runs `take_snapshot` with writes held; the hold ends even when it throws.
  virtual FreezeReport freeze(const std::function<void()>& take_snapshot) = 0;
  /// Restores whatever `prepare` changed. Safe to call without prepare.
  virtual void release() = 0;
};

/// MariaDB: FLUSH TABLES WITH READ LOCK around the snapshot; prepare turns on aggressive
/// page flushing (innodb_max_dirty_pages_pct=0). PostgreSQL: a snapshot of a data dir that
/// holds its WAL is already crash-consistent, so no lock; prepare runs CHECKPOINT.
std::unique_ptr<Freezer> make_freezer(const Endpoint& ep);

}  // namespace mupgrade::db
