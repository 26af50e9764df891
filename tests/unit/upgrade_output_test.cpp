#include "mupgrade/moodle/upgrade_output.hpp"

#include <gtest/gtest.h>

using namespace mupgrade::moodle;

TEST(UpgradeOutputTest, StripsAnsiColours) {
  EXPECT_EQ(strip_ansi("\x1b[32m++ Success ++\x1b[0m"), "++ Success ++");
  EXPECT_EQ(strip_ansi("plain"), "plain");
}

TEST(UpgradeOutputTest, ReadsProgressAndErrorLines) {
  EXPECT_EQ(component_of_progress_line("-->System"), "core");
  EXPECT_EQ(component_of_progress_line("\x1b[1m-->mod_forum\x1b[0m"), "mod_forum");
  EXPECT_FALSE(component_of_progress_line("++ Success (0.5 seconds) ++"));
  EXPECT_EQ(error_of_line("!!! Cannot downgrade local_x from 2 to 1. !!!"), "Cannot downgrade local_x from 2 to 1.");
  EXPECT_FALSE(error_of_line("!! php: version 8.1 is required !!"));
}

TEST(UpgradeOutputTest, SummarisesASuccessfulRun) {
  auto s = summarize_upgrade_output(
      "-->System\n++ Success (1.20 seconds) ++\n-->mod_quiz\n++ Success (0.10 seconds) ++\n"
      "Command line upgrade from 4.1.5 (Build: 20230814) to 4.1.10 (Build: 20240422) completed successfully.\n");
  EXPECT_TRUE(s.completed);
  EXPECT_EQ(s.from_release, "4.1.5 (Build: 20230814)");
  EXPECT_EQ(s.to_release, "4.1.10 (Build: 20240422)");
  EXPECT_EQ(s.last_component, "mod_quiz");
  EXPECT_TRUE(s.error.empty());
}

TEST(UpgradeOutputTest, SummarisesAFailureInsideAComponent) {
  auto s = summarize_upgrade_output("-->System\n++ Success ++\n-->mod_quiz\n!!! Error writing to database !!!\n"
                                    "Error code: dmlwriteexception\n");
  EXPECT_FALSE(s.completed);
  EXPECT_EQ(s.last_component, "mod_quiz");
  EXPECT_EQ(s.error, "Error writing to database");
}

TEST(UpgradeOutputTest, SummarisesAnEnvironmentFailure) {
  auto s = summarize_upgrade_output("== Environment ==\n!! php: version 8.1 is the highest supported !!\n[System] this test must pass\n");
  EXPECT_TRUE(s.environment_failed);
  EXPECT_EQ(s.environment_problems, "php: version 8.1 is the highest supported");
  EXPECT_FALSE(s.completed);
}
