#include "clients.hpp"

#include <fmt/format.h>
#include <mysql.h>

namespace mupgrade::db {

namespace {
class MariaDbClient : public SqlClient {
public:
  explicit MariaDbClient(const Endpoint& ep) : conn_(mysql_init(nullptr)) {
    if (!conn_) throw DbError("mysql_init() failed");
    unsigned int timeout = static_cast<unsigned int>(kConnectTimeout.count());
    mysql_options(conn_, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    if (!mysql_real_connect(conn_, ep.host.c_str(), ep.user.c_str(), ep.password.reveal().c_str(),
                            ep.database.empty() ? nullptr : ep.database.c_str(), static_cast<unsigned>(ep.port),
                            nullptr, 0)) {
      std::string msg = mysql_error(conn_);
      mysql_close(conn_);
      throw DbError(fmt::format("cannot connect to MariaDB at {}:{} as {} ({})", ep.host, ep.port, ep.user, msg),
                    "check that the DB container runs and publishes its port on 127.0.0.1");
    }
  }
  ~MariaDbClient() override { mysql_close(conn_); }

  void execute(const std::string& sql) override {
    run(sql);
    // Drain any result so the connection stays usable.
    if (MYSQL_RES* res = mysql_store_result(conn_)) mysql_free_result(res);
  }

  std::vector<Row> query(const std::string& sql) override {
    run(sql);
    std::vector<Row> rows;
    MYSQL_RES* res = mysql_store_result(conn_);
    if (!res) return rows;
    unsigned n = mysql_num_fields(res);
    while (MYSQL_ROW r = mysql_fetch_row(res)) {
      unsigned long* lengths = mysql_fetch_lengths(res);
      Row row;
      for (unsigned i = 0; i < n; ++i)
        row.push_back(r[i] ? std::optional<std::string>(std::string(r[i], lengths[i])) : std::nullopt);
      rows.push_back(std::move(row));
    }
    mysql_free_result(res);
    return rows;
  }

  std::string server_version() override { return mysql_get_server_info(conn_); }

private:
  void run(const std::string& sql) {
    if (mysql_real_query(conn_, sql.c_str(), sql.size()) != 0)
      throw DbError(fmt::format("MariaDB query failed: {} ({})", first_words(sql), mysql_error(conn_)));
  }
  MYSQL* conn_;
};
}  // namespace

std::unique_ptr<SqlClient> connect_mariadb(const Endpoint& ep) { return std::make_unique<MariaDbClient>(ep); }

}  // namespace mupgrade::db
