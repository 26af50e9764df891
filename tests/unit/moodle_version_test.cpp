#include "mupgrade/core/moodle_version.hpp"

#include <gtest/gtest.h>

using mupgrade::core::Maturity;
using mupgrade::core::MoodleVersion;
using mupgrade::core::parse_version_php;

TEST(MoodleVersionTest, ParsesIntegerAndFractionForms) {
  struct Case {
    const char* text;
    long long major;
    int fraction;
  } cases[] = {{"2022112810", 2022112810, 0}, {"2022112810.00", 2022112810, 0}, {"2022112810.5", 2022112810, 50},
               {"2022112810.05", 2022112810, 5}, {" 2024100700.01 ", 2024100700, 1}, {"2022112810.000", 2022112810, 0}};
  for (const auto& c : cases) {
    auto v = MoodleVersion::parse(c.text);
    ASSERT_TRUE(v) << c.text;
    EXPECT_EQ(v->major, c.major) << c.text;
    EXPECT_EQ(v->fraction, c.fraction) << c.text;
  }
}

TEST(MoodleVersionTest, RejectsNonNumbers) {
  for (const char* bad : {"", "abc", "2022.1.2", "2022112810.", ".5", "2022112810.123", "1e10", "-5"})
    EXPECT_FALSE(MoodleVersion::parse(bad)) << bad;
}

TEST(MoodleVersionTest, ComparesAsDecimalsLikeTheDatabaseStoresThem) {
  EXPECT_EQ(*MoodleVersion::parse("2022112810"), *MoodleVersion::parse("2022112810.00"));
  EXPECT_LT(*MoodleVersion::parse("2022112810.05"), *MoodleVersion::parse("2022112810.5"));
  EXPECT_LT(*MoodleVersion::parse("2022112809.99"), *MoodleVersion::parse("2022112810"));
  EXPECT_GT(*MoodleVersion::parse("2024100700.01"), *MoodleVersion::parse("2024100700"));
  EXPECT_EQ(MoodleVersion::parse("2022112810.5")->str(), "2022112810.50");
}

TEST(VersionPhpTest, ReadsARealShapedCoreFile) {
  auto vf = parse_version_php(R"(<?php
// This file is part of Moodle - https://moodle.org/
/**
 * MOODLE VERSION INFORMATION
 * $version = 1111111111.00; inside a doc comment must not count
 */
defined('MOODLE_INTERNAL') || die();

$version  = 2022112810.00;              // YYYYMMDD      = weekly release date of this DEV branch.
                                        //         RR    = release increments - 00 in DEV branches.
$release  = '4.1.10 (Build: 20240422)'; // Human-friendly version name
$branch   = '401';                     // This version's branch.
$maturity = MATURITY_STABLE;             // This version's maturity level.
)");
  ASSERT_TRUE(vf.version);
  EXPECT_EQ(vf.version->str(), "2022112810.00");
  EXPECT_EQ(vf.release, "4.1.10 (Build: 20240422)");
  EXPECT_EQ(vf.branch, "401");
  EXPECT_EQ(vf.maturity, Maturity::stable);
  EXPECT_FALSE(vf.is_plugin());
  EXPECT_TRUE(vf.unparseable.empty());
}

TEST(VersionPhpTest, ToleratesSpacingQuotesAndHashComments) {
  auto vf = parse_version_php("<?php\n$version=2024042203.00;# comment\n$release = \"4.4.3+ (Build: 20240910)\" ;\n"
                              "$branch='404';$maturity  =  MATURITY_BETA ;");
  EXPECT_EQ(vf.version->str(), "2024042203.00");
  EXPECT_EQ(vf.release, "4.4.3+ (Build: 20240910)");
  EXPECT_EQ(vf.branch, "404");
  EXPECT_EQ(vf.maturity, Maturity::beta);
}

TEST(VersionPhpTest, SemicolonsAndCommentMarkersInsideStringsDoNotCut) {
  auto vf = parse_version_php("<?php $release = '4.5; // not a comment'; $version = 2024100700;");
  EXPECT_EQ(vf.release, "4.5; // not a comment");
  EXPECT_EQ(vf.version->str(), "2024100700.00");
}

TEST(VersionPhpTest, ReadsPluginFields) {
  auto vf = parse_version_php(R"(<?php
defined('MOODLE_INTERNAL') || die();
$plugin->version   = 2024042200;        // The current plugin version (Date: YYYYMMDDXX).
$plugin->requires  = 2024041600;        // Requires this Moodle version.
$plugin->component = 'mod_forum';       // Full name of the plugin (used for diagnostics)
$plugin->maturity = MATURITY_RC;
)");
  EXPECT_TRUE(vf.is_plugin());
  EXPECT_EQ(vf.component, "mod_forum");
  EXPECT_EQ(vf.version->str(), "2024042200.00");
  EXPECT_EQ(vf.requires_version->str(), "2024041600.00");
  EXPECT_EQ(vf.maturity, Maturity::rc);
}

TEST(VersionPhpTest, NamesANonLiteralValueInsteadOfGuessing) {
  auto vf = parse_version_php("<?php $version = 2024100700 + 1; $release = '4.5' . BUILD; $branch = '405';");
  EXPECT_FALSE(vf.version);
  EXPECT_EQ(vf.unparseable, "$version");
  EXPECT_EQ(vf.branch, "405");
  auto rel = parse_version_php("<?php $version = 2024100700; $release = '4.5' . '+';");
  EXPECT_EQ(rel.unparseable, "$release");
  EXPECT_TRUE(rel.release.empty());
}

TEST(VersionPhpTest, IgnoresComparisonsAndOtherVariables) {
  auto vf = parse_version_php("<?php if ($version == 5) {} $other = 7; $version = 2022112805.00;");
  EXPECT_EQ(vf.version->str(), "2022112805.00");
  EXPECT_TRUE(vf.unparseable.empty());
}

TEST(ConfigPhpTest, ReadsTheTablePrefixAsARealSiteWritesIt) {
  // A real site's config.php (CRLF line ends, comments, a commented-out older value).
  std::string php =
      "<?php  // Moodle configuration file\r\n\r\nunset($CFG);\r\nglobal $CFG;\r\n$CFG = new stdClass();\r\n\r\n"
      "$CFG->dbtype    = 'mariadb';\r\n// $CFG->prefix = 'old_';\r\n/* $CFG->prefix = 'older_'; */\r\n"
      "$CFG->prefix    = 'sq_';\r\n$CFG->dboptions = array('dbpersist' => 0, 'dbport' => '');\r\n"
      "require_once(__DIR__ . '/lib/setup.php');\r\n";
  EXPECT_EQ(mupgrade::core::config_php_setting(php, "prefix"), "sq_");
  EXPECT_EQ(mupgrade::core::config_php_setting(php, "dbtype"), "mariadb");
  EXPECT_EQ(mupgrade::core::config_php_setting(php, "wwwroot"), std::nullopt);
}

TEST(ConfigPhpTest, TheLastAssignmentWinsAndDoubleQuotesWork) {
  EXPECT_EQ(mupgrade::core::config_php_setting("<?php\n$CFG->prefix = \"a_\";\n$CFG->prefix='b_';\n", "prefix"), "b_");
  EXPECT_EQ(mupgrade::core::config_php_setting("<?php\n$CFG->prefix = '';\n", "prefix"), "");
  // Not a literal: nothing mupgrade can rely on.
  EXPECT_EQ(mupgrade::core::config_php_setting("<?php\n$CFG->prefix = getenv('P');\n", "prefix"), std::nullopt);
  // Another setting whose name starts the same.
  EXPECT_EQ(mupgrade::core::config_php_setting("<?php\n$CFG->prefixes = 'x_';\n", "prefix"), std::nullopt);
}
