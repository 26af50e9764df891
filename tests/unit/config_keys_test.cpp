#include "mupgrade/config/load.hpp"
#include "mupgrade/core/config_keys.hpp"
#include "mupgrade/core/error.hpp"

#include <gtest/gtest.h>

#include <set>

using namespace mupgrade;

TEST(ConfigKeysTest, TheExampleConfigLoads) {
  auto c = config::parse_site_config(std::string(core::example_site_config()), "site.yml");
  EXPECT_EQ(c.site, "demo");
  EXPECT_EQ(c.web_port, 18080);
}

TEST(ConfigKeysTest, EveryKeyOfTheTableIsDocumentedOnceInItsSection) {
  std::string man = core::render_config_man("0.0.0");
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& k : core::config_keys()) {
    EXPECT_TRUE(seen.emplace(k.section, k.key).second) << k.section << "." << k.key << " twice";
    EXPECT_FALSE(k.what.empty()) << k.key;
    EXPECT_NE(man.find("\\fB" + std::string(k.key) + "\\fR ("), std::string::npos) << k.key;
  }
}

TEST(ConfigKeysTest, TheLoaderRefusesAKeyTheTableDoesNotHaveAndListsTheTablesKeys) {
  std::string base = std::string(core::example_site_config());
  try {
    config::parse_site_config(base + "colour: blue\n", "x.yml");
    FAIL() << "an unknown key was accepted";
  } catch (const UsageError& e) {
    std::string all;
    for (const auto& k : core::keys_in("")) all += (all.empty() ? "" : ", ") + k;
    EXPECT_NE(std::string(e.what()).find("unknown key 'colour' in the site config (expected one of: " + all + ")"), std::string::npos) << e.what();
  }
}

TEST(ConfigKeysTest, EverySectionOfTheTableIsReadByTheLoader) {
  // A key of each section, set to a valid value, is accepted: no table row the loader refuses.
  std::string cfg = std::string(core::example_site_config()) +
                    "upgrade:\n  timeout_s: 100\n  cron_drain_timeout_s: 5\n"
                    "steps:\n  - name: s\n    after: upgrade\n    operations: [cutover]\n    exec: [php, x.php]\n    timeout_s: 5\n"
                    "settings:\n  theme: boost\n"
                    "network: n1\nstate_dir: /tmp/s\nplaybooks_dir: /tmp/p\n";
  auto c = config::parse_site_config(cfg, "x.yml");
  EXPECT_EQ(c.upgrade_timeout_s, 100);
  EXPECT_EQ(c.steps.size(), 1u);
  EXPECT_EQ(c.network, "n1");
}
