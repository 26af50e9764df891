// The local-command adapter on real processes: output, exit code, environment, time limit.
#include "mupgrade/process/run.hpp"

#include <gtest/gtest.h>

using mupgrade::process::run;
using namespace std::chrono_literals;

TEST(ProcessTest, OutputExitCodeAndEnvironment) {
  auto r = run({"/bin/sh", "-c", "echo \"$MUPGRADE_SET\"; echo oops >&2; exit 3"}, {"MUPGRADE_SET=green-1"}, 10s);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.output.find("green-1\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("oops\n"), std::string::npos) << r.output;
}

TEST(ProcessTest, AQuickChildIsReapedAtOnce) {
  // Boost 1.74's wait_for could miss an exited child and sleep out the whole limit.
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) EXPECT_EQ(run({"/bin/true"}, {}, 60s).exit_code, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);
}

TEST(ProcessTest, StoppedAtTheTimeLimit) {
  auto r = run({"/bin/sleep", "30"}, {}, 1s);
  EXPECT_TRUE(r.timed_out);
  EXPECT_NE(r.exit_code, 0);
}
