#include "mupgrade/core/site_lock.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <sys/wait.h>
#include <unistd.h>

using namespace mupgrade::core;
namespace fs = std::filesystem;

namespace {
std::string lock_path() {
  return (fs::temp_directory_path() / ("mupgrade-unit-lock-" + std::to_string(::getpid()))).string();
}
}  // namespace

TEST(SiteLockTest, ASecondHolderIsRefusedWithWhoAndSince) {
  std::string path = lock_path();
  SiteLock first(path, "demo", "mupgrade cutover");
  // flock is per open file description: a second open in this process conflicts too.
  try {
    SiteLock second(path, "demo", "mupgrade rehearse");
    FAIL() << "expected LockHeld";
  } catch (const LockHeld& e) {
    EXPECT_EQ(e.holder().pid, ::getpid());
    EXPECT_EQ(e.holder().command, "mupgrade cutover");
    EXPECT_FALSE(e.holder().since.empty());
    EXPECT_NE(std::string(e.what()).find("site demo is busy: 'mupgrade cutover'"), std::string::npos) << e.what();
  }
  auto probed = SiteLock::probe(path);
  ASSERT_TRUE(probed);
  EXPECT_EQ(probed->command, "mupgrade cutover");
  fs::remove(path);
}

TEST(SiteLockTest, IsFreeAgainAfterRelease) {
  std::string path = lock_path();
  { SiteLock l(path, "demo", "a"); }
  EXPECT_FALSE(SiteLock::probe(path));
  EXPECT_NO_THROW(SiteLock(path, "demo", "b"));
  fs::remove(path);
}

TEST(SiteLockTest, AKilledHolderDoesNotBlockTheNextOperation) {
  std::string path = lock_path();
  pid_t child = ::fork();
  if (child == 0) {
    SiteLock l(path, "demo", "doomed");
    ::pause();
    ::_exit(0);
  }
  for (int i = 0; i < 200 && !SiteLock::probe(path); ++i) ::usleep(10000);
  ASSERT_TRUE(SiteLock::probe(path));
  EXPECT_FALSE(SiteLock::left_by_killed(path)) << "held: not left by a killed holder";
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  // What was running when the kill landed stays readable (status names its recovery from it).
  auto left = SiteLock::left_by_killed(path);
  ASSERT_TRUE(left);
  EXPECT_EQ(left->command, "doomed");
  EXPECT_EQ(left->pid, child);
  EXPECT_NO_THROW(SiteLock(path, "demo", "recovery"));
  EXPECT_FALSE(SiteLock::left_by_killed(path)) << "a holder that ends cleanly leaves nothing";
  fs::remove(path);
}
