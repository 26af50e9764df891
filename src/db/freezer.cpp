#include "mupgrade/db/freezer.hpp"

#include "clients.hpp"

#include "mupgrade/core/poll.hpp"

#include <fmt/format.h>

#include <thread>

namespace mupgrade::db {

using Clock = std::chrono::steady_clock;

std::string first_words(const std::string& sql) { return sql.size() > 60 ? sql.substr(0, 60) + "..." : sql; }

std::optional<std::string> SqlClient::scalar(const std::string& sql) {
  auto rows = query(sql);
  if (rows.empty() || rows[0].empty()) return std::nullopt;
  return rows[0][0];
}

std::unique_ptr<SqlClient> connect(const Endpoint& ep) {
  return ep.kind == Kind::mariadb ? connect_mariadb(ep) : connect_postgres(ep);
}

std::unique_ptr<SqlClient> connect_when_ready(const Endpoint& ep, std::chrono::milliseconds deadline) {
  std::unique_ptr<SqlClient> client;
  core::poll_until(
      [&](std::string& why) {
        try {
          client = connect(ep);
          return true;
        } catch (const DbError& e) {
          why = e.what();
          return false;
        }
      },
      deadline, fmt::format("the {} server on port {} did not accept connections", to_string(ep.kind), ep.port));
  return client;
}

namespace {

class MariaDbFreezer : public Freezer {
public:
  explicit MariaDbFreezer(const Endpoint& ep) : ep_(ep) {}

  nlohmann::json settings() override {
    auto c = connect(ep_);
    return {{"innodb_max_dirty_pages_pct", std::stod(c->scalar("SELECT @@GLOBAL.innodb_max_dirty_pages_pct").value_or("90"))},
            {"innodb_max_dirty_pages_pct_lwm", std::stod(c->scalar("SELECT @@GLOBAL.innodb_max_dirty_pages_pct_lwm").value_or("0"))}};
  }

  void prepare() override {
    auto c = connect(ep_);
    c->execute("SET GLOBAL innodb_max_dirty_pages_pct_lwm = 0");
    c->execute("SET GLOBAL innodb_max_dirty_pages_pct = 0");
    // Closing idle table handles now keeps FLUSH TABLES WITH READ LOCK short later.
    c->execute("FLUSH NO_WRITE_TO_BINLOG TABLES");
  }

  FreezeReport freeze(const std::function<void()>& take_snapshot) override {
    auto c = connect(ep_);
    c->execute("SET SESSION lock_wait_timeout = 10");
    auto start = Clock::now();
    c->execute("FLUSH TABLES WITH READ LOCK");
    try {
      take_snapshot();
    } catch (...) {
      c->execute("UNLOCK TABLES");
      throw;
    }
    c->execute("UNLOCK TABLES");
    return {"FLUSH TABLES WITH READ LOCK", std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start)};
  }

  void restore(const nlohmann::json& saved) override {
    if (!saved.is_object() || !saved.contains("innodb_max_dirty_pages_pct")) return;
    auto c = connect(ep_);
    // The low-water mark may not exceed the high one: set the high one first.
    c->execute(fmt::format("SET GLOBAL innodb_max_dirty_pages_pct = {}", saved["innodb_max_dirty_pages_pct"].get<double>()));
    c->execute(fmt::format("SET GLOBAL innodb_max_dirty_pages_pct_lwm = {}", saved.value("innodb_max_dirty_pages_pct_lwm", 0.0)));
  }

private:
  Endpoint ep_;
};

class PostgresFreezer : public Freezer {
public:
  explicit PostgresFreezer(const Endpoint& ep) : ep_(ep) {}

  nlohmann::json settings() override { return nlohmann::json::object(); }  // prepare changes no setting

  void prepare() override { connect(ep_)->execute("CHECKPOINT"); }

  FreezeReport freeze(const std::function<void()>& take_snapshot) override {
    // One atomic snapshot of PGDATA (WAL inside) is what a crash leaves behind: PostgreSQL
    // recovers it like any crash, so no write needs holding. A CHECKPOINT just before (blue
    // takes no writes in the window; prepare's wrote out the rest) leaves green's start next
    // to nothing to replay: the WAL since prepare would otherwise be replayed in the window.
    connect(ep_)->execute("CHECKPOINT");
    take_snapshot();
    return {"none (CHECKPOINT, then an atomic snapshot of a data dir holding its WAL)", std::chrono::microseconds{0}};
  }

  void restore(const nlohmann::json&) override {}

private:
  Endpoint ep_;
};

}  // namespace

std::unique_ptr<Freezer> make_freezer(const Endpoint& ep) {
  if (ep.kind == Kind::mariadb) return std::make_unique<MariaDbFreezer>(ep);
  return std::make_unique<PostgresFreezer>(ep);
}

}  // namespace mupgrade::db
