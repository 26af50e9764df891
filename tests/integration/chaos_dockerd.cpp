// The one fault ctest never injects: the Docker daemon restarted during a cutover's
// upgrade.php. A restart stops every container on the host that has no restart policy, other
// sites' too, so only `scripts/chaos --restart-dockerd` runs it, and only on a daemon the
// project's scripts started (MUPGRADE_DOCKERD_PIDFILE, written by scripts/setup).

#include "chaos.hpp"

using namespace mupgrade;
using namespace mupgrade::itest;
using namespace mupgrade::itest::chaos;

namespace {

pid_t our_dockerd() {
  const char* file = std::getenv("MUPGRADE_DOCKERD_PIDFILE");
  if (!file || !*file) return -1;
  pid_t pid = std::atoi(read_file(file).c_str());
  std::string comm = pid > 0 ? read_file(fmt::format("/proc/{}/comm", pid)) : "";
  return comm.rfind("dockerd", 0) == 0 ? pid : -1;
}

}  // namespace

TEST(ChaosDockerdTest, ADaemonRestartDuringUpgradeIsRecovered) {
  pid_t dockerd = our_dockerd();
  ASSERT_GT(dockerd, 0) << "MUPGRADE_DOCKERD_PIDFILE must name a dockerd that scripts/setup started";
  SiteCleanup cleanup;
  auto ls = make_site(cleanup, db::Kind::mariadb, 18670);
  Campaign c(*ls, "d");
  auto& site = *ls->site;
  RunRecord r{"dockerd restarted in upgrade"};
  std::string before = site.last_journal_path();
  Background proc("cutover " + c.config(), scratch_dir() + "/dockerd.log");
  ASSERT_TRUE(wait_for_step(site, before, "upgrade", std::chrono::seconds(60))) << read_file(proc.log);
  double at = c.traffic().now();
  ASSERT_EQ(::kill(dockerd, SIGTERM), 0);
  for (int i = 0; i < 1200 && ::kill(dockerd, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_NE(::kill(dockerd, 0), 0) << "dockerd did not stop within 120 s";
  std::string out;
  ASSERT_EQ(sh(fmt::format("cd '{}' && bash -c '. scripts/lib.sh && ensure_dockerd'", MUPGRADE_SOURCE_DIR), &out), 0) << out;
  int rc = proc.wait();
  std::string log = read_file(proc.log);
  EXPECT_EQ(rc, 1) << log;
  EXPECT_NE(log.find("failed at step 'upgrade'"), std::string::npos) << "the restart must cut upgrade.php: " << log;
  r.landed = "in upgrade";
  // Undos that met the daemon down are left to resume, as the tool says.
  if (log.find("cutover --resume") != std::string::npos) {
    EXPECT_EQ(run_binary("cutover --resume " + c.config(), &out), 0) << out;
  }
  std::printf("--- the cutover's output ---\n%s\n--- status ---\n", log.c_str());
  run_binary("status " + c.config(), &out);
  std::printf("%s\n", out.c_str());
  c.check_end_state(r, at, 0);
  c.records.push_back(r);
  write_summary(c.records, 0);
}
