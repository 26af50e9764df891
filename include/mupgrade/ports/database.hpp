#pragma once
// Port: the questions the operations ask a site's DB server, and the changes they make to it
// (freeze for a snapshot, relaxed durability on green). SQL lives in the adapter (src/db).

#include "mupgrade/core/kinds.hpp"
#include "mupgrade/core/secret.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mupgrade::ports {

using core::DbKind;
using core::to_string;
/// "mariadb", "mysqli", "mysql", "postgresql", "pgsql", "postgres".
inline std::optional<DbKind> db_kind_from_string(std::string_view s) { return core::db_kind_named(s); }

struct DbEndpoint {
  DbKind kind = DbKind::mariadb;
  std::string host = "127.0.0.1";
  int port = 0;
  std::string user;
  Secret password;
  std::string database;
  std::string prefix = "mdl_";  // Moodle's $CFG->prefix
};

/// Rows written through the web since a watermark, per probe table.
struct WriteCount {
  long logstore_writes = 0;  // logstore rows with crud c/u/d from web or ws
  nlohmann::json per_table = nlohmann::json::object();  // table (without prefix) -> new rows
  long total() const;
  std::string describe(const std::string& prefix) const;
};

/// A user file as mdl_files records it.
struct StoredFile {
  std::string contenthash;
  long long size = 0;
};

struct FreezeReport {
  std::string method;                 // what held the writes
  std::chrono::microseconds held{0};  // how long writers were blocked
};

/// Makes a filesystem snapshot of a live DB data dir consistent.
class Freezer {
public:
  virtual ~Freezer() = default;
  /// The server settings `prepare` changes, as they are now: journal them before prepare, so
  /// that a later process can restore them.
  virtual nlohmann::json settings() = 0;
  /// Before the window: have the server write out dirty pages, so the freeze is short and a
  /// DB started on the snapshot spends little time in crash recovery.
  virtual void prepare() = 0;
  /// Runs `take_snapshot` with writes held; the hold ends even when it throws.
  virtual FreezeReport freeze(const std::function<void()>& take_snapshot) = 0;
  /// Puts back what `settings` returned (idempotent; an empty object restores nothing).
  virtual void restore(const nlohmann::json& settings) = 0;
};

class Database {
public:
  virtual ~Database() = default;
  /// Waits until the server accepts connections; throws when `deadline` passes.
  virtual void wait_ready(const DbEndpoint& ep, std::chrono::milliseconds deadline) = 0;
  virtual std::string server_version(const DbEndpoint& ep) = 0;
  /// A row of Moodle's config table, nullopt when absent.
  virtual std::optional<std::string> config_value(const DbEndpoint& ep, const std::string& name) = 0;
  /// The highest ids of the logstore and of the write-probe tables.
  virtual nlohmann::json watermark(const DbEndpoint& ep) = 0;
  virtual WriteCount writes_since(const DbEndpoint& ep, const nlohmann::json& watermark) = 0;
  /// The first course after the front page, if any.
  virtual std::optional<long> first_course(const DbEndpoint& ep) = 0;
  /// The newest user files (non-empty, not directories).
  virtual std::vector<StoredFile> newest_files(const DbEndpoint& ep, int count) = 0;
  virtual std::unique_ptr<Freezer> freezer(const DbEndpoint& ep) = 0;
  virtual void relax_durability(const DbEndpoint& ep) = 0;
  virtual void restore_durability(const DbEndpoint& ep) = 0;
  /// The durability settings as the server reports them, e.g. "innodb_flush_log_at_trx_commit=1".
  virtual std::string durability_settings(const DbEndpoint& ep) = 0;
};

}  // namespace mupgrade::ports
