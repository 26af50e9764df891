#pragma once
// Makes a filesystem snapshot of a live DB data dir consistent, holding writes only for
// the snapshot instant.

#include "mupgrade/db/sql_client.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace mupgrade::db {

using ports::FreezeReport;
using ports::Freezer;

/// MariaDB: FLUSH TABLES WITH READ LOCK around the snapshot; prepare turns on aggressive
/// page flushing (innodb_max_dirty_pages_pct=0, settings() returns the values to restore). PostgreSQL: a snapshot of a data dir that
/// holds its WAL is already crash-consistent, so no lock; prepare runs CHECKPOINT.
std::unique_ptr<Freezer> make_freezer(const Endpoint& ep);

}  // namespace mupgrade::db
