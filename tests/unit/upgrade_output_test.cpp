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

// As real Moodle 4.5.6 printed it after upgrading a 4.3 site whose new code carried a local
// plugin that adds columns to the core table user (local_corechanges).
TEST(UpgradeOutputTest, SummarisesARealRunWhoseReleasesCarryTheirVersions) {
  auto s = summarize_upgrade_output(
      "-->factor_webauthn\n++ Success (0.05 seconds) ++\n== Setting new default values ==\nNew setting: theme_moove/fontsite\n"
      "Command line upgrade from 4.3 (Build: 20231009) (2023100900) to 4.5.6 (Build: 20250811) (2024100706) completed successfully.\n");
  EXPECT_TRUE(s.completed);
  EXPECT_EQ(s.from_release, "4.3 (Build: 20231009) (2023100900)");
  EXPECT_EQ(s.to_release, "4.5.6 (Build: 20250811) (2024100706)");
  EXPECT_EQ(s.last_component, "factor_webauthn");
}

TEST(UpgradeOutputTest, ReadsTheSchemaCheckReportTableByTable) {
  const std::string sep(79, '-');
  auto d = parse_schema_differences(sep + "\nuser\n * column 'degree' is not expected (C)\n * column 'gender' is not expected (C)\n" + sep +
                                    "\nquiz\n * column 'timelimit' is missing\n * Unexpected index 'mdl_quiz_x_ix'.\n" + sep +
                                    "\nlocal_old\n * table is not expected\n" + sep + "\n");
  ASSERT_EQ(d.size(), 5u);
  EXPECT_EQ(d[0].table, "user");
  EXPECT_EQ(d[0].what, "column 'degree' is not expected (C)");
  EXPECT_TRUE(d[0].extra);
  EXPECT_TRUE(d[1].extra);
  EXPECT_EQ(d[2].table, "quiz");
  EXPECT_FALSE(d[2].extra) << "a missing column is one the code expects";
  EXPECT_TRUE(d[3].extra);
  EXPECT_EQ(d[4].table, "local_old");
  EXPECT_TRUE(d[4].extra);
  EXPECT_TRUE(parse_schema_differences("Database structure is ok.\n").empty());
  EXPECT_TRUE(parse_schema_differences("something else entirely\n").empty());
}

TEST(UpgradeOutputTest, SchemaDifferencesTheCodeDependsOnAreNotExtras) {
  for (const char* what : {"column 'x' has incorrect type 'C', expected 'I'", "column 'x' should be NOT NULL (C)",
                           "column 'x' should allow NULL (C)", "column 'x' has default '0', expected '' (C)",
                           "table is missing", "Missing index 'x' (not unique) [courseid]."}) {
    auto d = parse_schema_differences(std::string("t\n * ") + what + "\n");
    ASSERT_EQ(d.size(), 1u) << what;
    EXPECT_FALSE(d[0].extra) << what;
  }
}

TEST(UpgradeOutputTest, NamesThePluginsUpgradePhpsPluginCheckRefuses) {
  // Real upgrade.php (cli_problem and cli_error write to stderr).
  std::string err = "Dependencies check failed for local_assessment, block_old\n"
                    "You must solve all the plugin requirements before proceeding to install this Moodle version!\n";
  EXPECT_EQ(plugins_failing_dependencies(err), (std::vector<std::string>{"local_assessment", "block_old"}));
  EXPECT_TRUE(plugins_failing_dependencies("Do you really want to continue? (y/n)\n").empty());
}

TEST(UpgradeOutputTest, ReadsUninstallPluginsShowMissing) {
  // Real 4.5.6: one "$plugin->component\t$plugin->displayname" line per missing plugin.
  std::string out = "Notice: something\nlocal_extra\tExtra tools\nmod_attendance\tAttendance\n";
  EXPECT_EQ(parse_missing_plugins(out), (std::vector<std::string>{"local_extra", "mod_attendance"}));
  // A line whose component is empty (or blank) names no plugin: ignored, never "missing: ''".
  EXPECT_EQ(parse_missing_plugins("\tGhost plugin\n  \tBlank\nlocal_extra\tExtra tools\n"), (std::vector<std::string>{"local_extra"}));
  EXPECT_TRUE(parse_missing_plugins("").empty());
}

TEST(UpgradeOutputTest, OnlyDifferencesTheUpgradeIntroducedAreNew) {
  std::string sep(79, '-');
  auto before = parse_schema_differences(sep + "\nuser\n * column 'degree' is not expected (C)\n" + sep + "\n");
  auto after = parse_schema_differences(sep + "\nuser\n * column 'degree' is not expected (C)\n" + sep +
                                                "\nquiz\n * column 'timelimit' is missing\n" + sep + "\n");
  auto fresh = new_schema_differences(before, after);
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_EQ(fresh[0].table, "quiz");
  EXPECT_EQ(fresh[0].what, "column 'timelimit' is missing");
  EXPECT_TRUE(new_schema_differences(after, before).empty());
}
