#pragma once
// Relaxed durability for green's DB while upgrade.php runs: until the switch green is a
// throwaway copy, so commits need not wait for fsync. Restored (and everything made durable)
// before the switch.
//   MariaDB: innodb_flush_log_at_trx_commit=2 (each commit still reaches the OS; the log is
//            fsync'd once a second), back to 1.
//   PostgreSQL: synchronous_commit, fsync and full_page_writes off, wal_writer_delay 10 s;
//            reset, reloaded, then CHECKPOINT (writes and fsyncs every dirty page and the WAL).
// The caller then syncs the filesystem under the DB (syncfs), so an OS crash right after the
// switch loses nothing either.

#include "mupgrade/db/sql_client.hpp"

namespace mupgrade::db {

void relax_durability(const Endpoint& ep);
void restore_durability(const Endpoint& ep);
/// The settings as the server reports them, e.g. "innodb_flush_log_at_trx_commit=1".
std::string durability_settings(const Endpoint& ep);

}  // namespace mupgrade::db
