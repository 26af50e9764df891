#include "clients.hpp"

#include <fmt/format.h>
#include <libpq-fe.h>

namespace mupgrade::db {

namespace {
class PostgresClient : public SqlClient {
public:
  explicit PostgresClient(const Endpoint& ep) {
    std::string port = std::to_string(ep.port), timeout = std::to_string(kConnectTimeout.count());
    std::string dbname = ep.database.empty() ? "postgres" : ep.database;
    // Keyword arrays, not a conninfo string: the password is never formatted into text.
    const char* keys[] = {"host", "port", "user", "password", "dbname", "connect_timeout", "application_name", nullptr};
    const char* values[] = {ep.host.c_str(), port.c_str(), ep.user.c_str(), ep.password.reveal().c_str(),
                            dbname.c_str(), timeout.c_str(), "mupgrade", nullptr};
    conn_ = PQconnectdbParams(keys, values, 0);
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string msg = PQerrorMessage(conn_);
      while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
      PQfinish(conn_);
      throw DbError(fmt::format("cannot connect to PostgreSQL at {}:{} as {} ({})", ep.host, ep.port, ep.user, msg),
                    "check that the DB container runs and publishes its port on 127.0.0.1");
    }
  }
  ~PostgresClient() override { PQfinish(conn_); }

  void execute(const std::string& sql) override { PQclear(run(sql)); }

  std::vector<Row> query(const std::string& sql) override {
    PGresult* res = run(sql);
    std::vector<Row> rows;
    int n = PQntuples(res), m = PQnfields(res);
    for (int i = 0; i < n; ++i) {
      Row row;
      for (int j = 0; j < m; ++j)
        row.push_back(PQgetisnull(res, i, j) ? std::nullopt : std::optional<std::string>(PQgetvalue(res, i, j)));
      rows.push_back(std::move(row));
    }
    PQclear(res);
    return rows;
  }

  std::string server_version() override {
    int v = PQserverVersion(conn_);
    return fmt::format("{}.{}", v / 10000, v % 10000);
  }

private:
  PGresult* run(const std::string& sql) {
    PGresult* res = PQexec(conn_, sql.c_str());
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      std::string msg = PQresultErrorMessage(res);
      while (!msg.empty() && msg.back() == '\n') msg.pop_back();
      PQclear(res);
      throw DbError(fmt::format("PostgreSQL query failed: {} ({})", first_words(sql), msg));
    }
    return res;
  }
  PGconn* conn_ = nullptr;
};
}  // namespace

std::unique_ptr<SqlClient> connect_postgres(const Endpoint& ep) { return std::make_unique<PostgresClient>(ep); }

}  // namespace mupgrade::db
