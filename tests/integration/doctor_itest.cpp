// `mupgrade doctor` as a user runs it: the binary, its output and exit code.

#include "fixtures.hpp"

#include <gtest/gtest.h>

using namespace mupgrade;
using namespace mupgrade::itest;

namespace {
int doctor(const std::string& args, std::string* out) {
  return sh(std::string(MUPGRADE_BINARY) + " doctor " + args, out);
}
}  // namespace

TEST(DoctorTest, AHealthyHostPassesEveryCheck) {
  std::string out;
  EXPECT_EQ(doctor("--pool " + test_pool(), &out), 0) << out;
  EXPECT_NE(out.find("ok    docker daemon"), std::string::npos) << out;
  EXPECT_NE(out.find("ok    btrfs pool"), std::string::npos) << out;
  EXPECT_NE(out.find("image mupgrade/web:php8.2"), std::string::npos) << out;
  EXPECT_EQ(out.find("FAIL"), std::string::npos) << out;
}

TEST(DoctorTest, ChecksARunningDbContainer) {
  Cleanup cleanup;
  std::string net = unique_name("net");
  cleanup.network(engine().create_network(net, {{"mupgrade.test", "1"}}));
  DbServer db = start_db(cleanup, db::Kind::postgresql, net, make_subvolume(cleanup, "db"));
  std::string out;
  EXPECT_EQ(doctor("--pool " + test_pool() + " --db-container " + db.container + " --json", &out), 0) << out;
  EXPECT_NE(out.find("\"ok\": true"), std::string::npos) << out;
  EXPECT_NE(out.find(db.container + " answers"), std::string::npos) << out;
}

TEST(DoctorTest, APathThatIsNotBtrfsFailsWithAFix) {
  std::string out;
  EXPECT_EQ(doctor("--pool /proc", &out), 1);
  EXPECT_NE(out.find("FAIL  btrfs pool"), std::string::npos) << out;
  EXPECT_NE(out.find("/proc is not on btrfs"), std::string::npos) << out;
  EXPECT_NE(out.find("fix: point --pool at a btrfs mount"), std::string::npos) << out;
}

TEST(DoctorTest, AMissingImageAndADownDaemonFail) {
  std::string out;
  EXPECT_EQ(doctor("--pool " + test_pool() + " --image mupgrade/no-such:1", &out), 1);
  EXPECT_NE(out.find("FAIL  image mupgrade/no-such:1"), std::string::npos) << out;
  EXPECT_EQ(doctor("--pool " + test_pool() + " --docker-socket /nonexistent.sock", &out), 1);
  EXPECT_NE(out.find("cannot reach the Docker daemon at /nonexistent.sock"), std::string::npos) << out;
  EXPECT_NE(out.find("fix: start it"), std::string::npos) << out;
}

TEST(DoctorTest, BadArgumentsAreOneLineAndExit2) {
  std::string out;
  EXPECT_EQ(doctor("--no-such-flag", &out), 2);
  EXPECT_NE(out.find("mupgrade: error:"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_EQ(sh(std::string(MUPGRADE_BINARY) + " frobnicate", &out), 2) << out;
}
