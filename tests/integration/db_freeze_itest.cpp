// The DB freeze against real MariaDB and PostgreSQL: a snapshot taken under a concurrent
// write load, started as a new server, holds every row committed before the freeze.

#include "fixtures.hpp"

#include "mupgrade/btrfs/btrfs.hpp"
#include "mupgrade/db/freezer.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

using namespace mupgrade;
using namespace mupgrade::itest;
using Clock = std::chrono::steady_clock;

class DbFreezeTest : public ::testing::TestWithParam<db::Kind> {};

TEST_P(DbFreezeTest, SnapshotUnderLoadKeepsEveryCommittedRow) {
  Cleanup cleanup;
  std::string net = unique_name("net");
  cleanup.network(engine().create_network(net, {{"mupgrade.test", "1"}}));
  std::string datadir = make_subvolume(cleanup, "db");
  DbServer blue = start_db(cleanup, GetParam(), net, datadir);
  bool maria = GetParam() == db::Kind::mariadb;
  auto setup = db::connect(blue.endpoint);
  setup->execute(maria ? "CREATE TABLE t (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64))"
                       : "CREATE TABLE t (id BIGSERIAL PRIMARY KEY, v VARCHAR(64))");
  EXPECT_FALSE(setup->server_version().empty());

  // The writer commits one row at a time and publishes the last id it saw committed.
  std::atomic<bool> stop{false};
  std::atomic<long> last_committed{0};
  std::thread writer([&] {
    auto c = db::connect(blue.endpoint);
    while (!stop) {
      c->execute("INSERT INTO t (v) VALUES ('row')");
      auto id = c->scalar(maria ? "SELECT LAST_INSERT_ID()" : "SELECT currval('t_id_seq')");
      last_committed = std::stol(id.value_or("0"));
    }
  });
  while (last_committed < 300) std::this_thread::sleep_for(std::chrono::milliseconds(10));

  auto freezer = db::make_freezer(blue.endpoint);
  auto saved = freezer->settings();
  auto t_prepare = Clock::now();
  freezer->prepare();
  double prepare_ms = std::chrono::duration<double, std::milli>(Clock::now() - t_prepare).count();
  btrfs::sync(datadir);  // outside the lock: keeps the locked window short
  std::string snap = datadir + "-snap";
  cleanup.subvolume(snap);
  long committed_before = 0;
  auto report = freezer->freeze([&] {
    committed_before = last_committed;
    btrfs::snapshot(datadir, snap);
  });
  freezer->restore(saved);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop = true;
  writer.join();
  EXPECT_GT(last_committed.load(), committed_before) << "writes must resume after the freeze";

  auto t_start = Clock::now();
  DbServer green = start_db(cleanup, GetParam(), net, snap, "green");
  double ready_s = std::chrono::duration<double>(Clock::now() - t_start).count();
  auto c = db::connect(green.endpoint);
  long present = std::stol(c->scalar("SELECT COUNT(*) FROM t WHERE id <= " + std::to_string(committed_before)).value());
  EXPECT_EQ(present, committed_before) << "rows committed before the freeze are missing from the snapshot";
  std::cout << db::to_string(GetParam()) << ": freeze by " << report.method << " held "
            << std::chrono::duration<double, std::milli>(report.held).count() << " ms; prepare " << prepare_ms << " ms; green ready in " << ready_s
            << " s; rows " << committed_before << "\n";
  RecordProperty("freeze_held_ms", std::to_string(std::chrono::duration<double, std::milli>(report.held).count()));
  RecordProperty("green_ready_s", std::to_string(ready_s));
}

TEST_P(DbFreezeTest, TheLockIsReleasedWhenTheSnapshotFails) {
  Cleanup cleanup;
  std::string net = unique_name("net");
  cleanup.network(engine().create_network(net, {{"mupgrade.test", "1"}}));
  DbServer s = start_db(cleanup, GetParam(), net, make_subvolume(cleanup, "db"));
  auto freezer = db::make_freezer(s.endpoint);
  EXPECT_THROW(freezer->freeze([] { throw std::runtime_error("snapshot failed"); }), std::runtime_error);
  auto c = db::connect(s.endpoint);
  EXPECT_NO_THROW(c->execute("CREATE TABLE after_failure (id INT)"));
}

TEST_P(DbFreezeTest, PrepareIsUndoneByRelease) {
  if (GetParam() != db::Kind::mariadb) return;  // PostgreSQL's prepare changes no setting
  Cleanup cleanup;
  std::string net = unique_name("net");
  cleanup.network(engine().create_network(net, {{"mupgrade.test", "1"}}));
  DbServer s = start_db(cleanup, GetParam(), net, make_subvolume(cleanup, "db"));
  auto c = db::connect(s.endpoint);
  auto before = c->scalar("SELECT @@GLOBAL.innodb_max_dirty_pages_pct");
  auto saved = db::make_freezer(s.endpoint)->settings();
  db::make_freezer(s.endpoint)->prepare();
  EXPECT_EQ(std::stod(c->scalar("SELECT @@GLOBAL.innodb_max_dirty_pages_pct").value()), 0.0);
  // Another freezer (another process, after a crash) restores from what was journaled.
  db::make_freezer(s.endpoint)->restore(saved);
  EXPECT_EQ(c->scalar("SELECT @@GLOBAL.innodb_max_dirty_pages_pct"), before);
}

TEST(DbClientTest, WrongPasswordIsAClearErrorWithoutTheSecret) {
  db::Endpoint ep;
  ep.kind = db::Kind::postgresql;
  ep.port = 1;  // nothing listens there
  ep.user = "postgres";
  ep.password = Secret("very-secret-pw");
  try {
    db::connect(ep);
    FAIL() << "expected DbError";
  } catch (const db::DbError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("cannot connect to PostgreSQL at 127.0.0.1:1"), std::string::npos) << what;
    EXPECT_EQ(what.find("very-secret-pw"), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, DbFreezeTest, ::testing::Values(db::Kind::mariadb, db::Kind::postgresql),
                         [](const auto& p) { return std::string(db::to_string(p.param)); });
