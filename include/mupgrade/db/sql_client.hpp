#pragma once
// A minimal SQL connection to the site's DB server (MariaDB or PostgreSQL), reached on a
// loopback-published port. Used for the snapshot freeze and for read-only probes.

#include "mupgrade/core/error.hpp"
#include "mupgrade/core/secret.hpp"
#include "mupgrade/ports/database.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mupgrade::db {

// Kind and Endpoint are the port's (include/mupgrade/ports/database.hpp).
using Kind = ports::DbKind;
using Endpoint = ports::DbEndpoint;
using ports::to_string;
inline std::optional<Kind> kind_from_string(std::string_view s) { return ports::db_kind_from_string(s); }

/// How long to wait for a connection before calling the server unreachable.
inline constexpr std::chrono::seconds kConnectTimeout{5};

class DbError : public Error {
public:
  using Error::Error;
};

using Row = std::vector<std::optional<std::string>>;

class SqlClient {
public:
  virtual ~SqlClient() = default;
  virtual void execute(const std::string& sql) = 0;
  virtual std::vector<Row> query(const std::string& sql) = 0;
  virtual std::string server_version() = 0;
  /// First column of the first row, or nullopt.
  std::optional<std::string> scalar(const std::string& sql);
};

std::unique_ptr<SqlClient> connect(const Endpoint& ep);
/// Retries until the server accepts a connection or `deadline` passes (a freshly started DB).
std::unique_ptr<SqlClient> connect_when_ready(const Endpoint& ep, std::chrono::milliseconds deadline);

}  // namespace mupgrade::db
