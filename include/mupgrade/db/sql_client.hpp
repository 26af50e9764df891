#pragma once
// A minimal SQL connection to the site's DB server (MariaDB or PostgreSQL), reached on a
// loopback-published port. Used for the snapshot freeze and for read-only probes.

#include "mupgrade/core/error.hpp"
#include "mupgrade/core/secret.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mupgrade::db {

enum class Kind { mariadb, postgresql };
std::string_view to_string(Kind k);
std::optional<Kind> kind_from_string(std::string_view s);  // "mariadb", "mysqli", "pgsql", "postgresql"

struct Endpoint {
  Kind kind = Kind::mariadb;
  std::string host = "127.0.0.1";
  int port = 0;
  std::string user;
  Secret password;
  std::string database;
};

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
