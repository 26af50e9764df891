#include "mupgrade/core/set_layout.hpp"

#include <gtest/gtest.h>

using namespace mupgrade::core;

namespace {
SiteConfig site(const std::string& url, const std::string& host) {
  SiteConfig c;
  c.site = "demo";
  c.pool = "/srv/pool/demo";
  c.public_url = url;
  c.public_host = host;
  c.db.kind = DbKind::mariadb;
  return c;
}
}  // namespace

TEST(SetLayoutTest, NamesAndPathsOfASetAndOfAClone) {
  auto cfg = site("http://demo.test:18080", "demo.test:18080");
  SetLayout l(cfg);
  struct Case {
    std::string set, dir, db_container, network;
  } cases[] = {
      {"20261129-101500-4.4.3", "/srv/pool/demo/sets/20261129-101500-4.4.3", "mupgrade-demo-20261129-101500-4.4.3-db", "mupgrade-demo-20261129-101500-4.4.3"},
      {"clone-20261129-020000-4.5", "/srv/pool/demo/clones/clone-20261129-020000-4.5", "mupgrade-demo-clone-20261129-020000-4.5-db", "mupgrade-demo-clone-20261129-020000-4.5"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(l.paths(c.set).dir, c.dir);
    EXPECT_EQ(l.paths(c.set).moodledata, c.dir + "/moodledata");
    EXPECT_EQ(l.paths(c.set).maintenance_file(), c.dir + "/moodledata/climaintenance.html");
    EXPECT_EQ(l.db_container(c.set), c.db_container);
    EXPECT_EQ(l.set_network(c.set), c.network);
    EXPECT_EQ(l.labels(c.set, "web"), (std::map<std::string, std::string>{{"mupgrade.site", "demo"}, {"mupgrade.set", c.set}, {"mupgrade.role", "web"}}));
  }
}

TEST(SetLayoutTest, AClonesUrlAndHostKeepSchemePortAndPathOnAReservedName) {
  struct Case {
    std::string url, host, clone_url, clone_host;
  } cases[] = {
      {"http://demo.test:18080", "demo.test:18080", "http://mupgrade-clone.invalid:18080", "mupgrade-clone.invalid:18080"},
      {"https://moodle.uni.example/lms", "moodle.uni.example", "https://mupgrade-clone.invalid/lms", "mupgrade-clone.invalid"},
  };
  for (const auto& c : cases) {
    auto cfg = site(c.url, c.host);
    SetLayout l(cfg);
    EXPECT_EQ(l.clone_url(), c.clone_url);
    EXPECT_EQ(l.host_header("clone-x"), c.clone_host);
    EXPECT_EQ(l.host_header("20261129-101500-4.4.3"), c.host) << "a set answers to the public Host";
  }
}

TEST(SetLayoutTest, TheCodeLayoutDecidesEveryPathIntoTheCode) {
  CodeLayout classic{false}, public_root{true};
  EXPECT_EQ(classic.version_file(), "version.php");
  EXPECT_EQ(public_root.version_file(), "public/version.php");
  EXPECT_EQ(classic.web_root(), "/var/www/moodle");
  EXPECT_EQ(public_root.web_root(), "/var/www/moodle/public");
  EXPECT_EQ(public_root.cli_script("upgrade"), "public/admin/cli/upgrade.php");
}
