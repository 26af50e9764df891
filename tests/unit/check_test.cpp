#include "mupgrade/core/check.hpp"

#include <gtest/gtest.h>

using namespace mupgrade::core;

TEST(CheckTest, RendersAlignedLinesAndFixesOnlyForFailures) {
  std::vector<CheckResult> checks = {{"docker daemon", CheckStatus::ok, "Docker 20.10, API 1.41", "unused"},
                                     {"pool", CheckStatus::fail, "/x is not on btrfs", "point --pool at btrfs"}};
  std::string out = render_checks(checks);
  EXPECT_EQ(out,
            "ok    docker daemon  Docker 20.10, API 1.41\n"
            "FAIL  pool           /x is not on btrfs\n"
            "                     fix: point --pool at btrfs\n");
  EXPECT_FALSE(all_passed(checks));
  EXPECT_EQ(checks_to_json(checks)[1]["status"], "fail");
}

TEST(CheckTest, WarningsStillPass) {
  EXPECT_TRUE(all_passed({{"space", CheckStatus::warn, "low", "prune"}}));
  EXPECT_TRUE(all_passed({}));
}
