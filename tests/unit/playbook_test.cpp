#include "mupgrade/config/load.hpp"
#include "mupgrade/config/playbook_load.hpp"
#include "mupgrade/core/error.hpp"
#include "mupgrade/core/playbook.hpp"

#include <gtest/gtest.h>

using namespace mupgrade;
using core::Playbook;
using core::StepRules;

namespace {

StepRules rules() {
  StepRules r;
  r["maintenance-on"] = {true, {}};
  r["snapshot"] = {true, {"maintenance-on"}};
  r["upgrade"] = {true, {"snapshot"}};
  r["checks"] = {false, {"upgrade"}};
  r["switch-proxy"] = {true, {"upgrade", "checks"}};
  return r;
}

std::string error_of(const Playbook& pb, const std::vector<core::SiteStep>& site = {}) {
  try {
    core::compose_plan(pb, rules(), site);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

std::vector<std::string> names(const std::vector<core::PlannedStep>& plan) {
  std::vector<std::string> out;
  for (const auto& p : plan) out.push_back(p.name);
  return out;
}

core::SiteStep site_step(std::string name, std::string anchor, bool before, std::vector<std::string> ops = {"cutover", "rehearse"}) {
  core::SiteStep s;
  s.name = std::move(name);
  s.anchor = std::move(anchor);
  s.before = before;
  s.operations = std::move(ops);
  s.where = "site.yml:9";
  s.kind = "cfg";
  return s;
}

const Playbook kGood{"cutover", "pb.yml", {"maintenance-on", "snapshot", "upgrade", "checks", "switch-proxy"}};

}  // namespace

TEST(PlaybookTest, KeepsThePlaybookOrder) {
  EXPECT_EQ(names(core::compose_plan(kGood, rules(), {})), kGood.steps);
}

TEST(PlaybookTest, OptionalStepsMayBeLeftOut) {
  Playbook pb{"cutover", "pb.yml", {"maintenance-on", "snapshot", "upgrade", "switch-proxy"}};
  EXPECT_EQ(names(core::compose_plan(pb, rules(), {})), pb.steps);
}

TEST(PlaybookTest, RefusesUnknownDuplicateMissingAndOutOfOrderSteps) {
  EXPECT_NE(error_of({"cutover", "pb.yml", {"maintenance-on", "snapshot", "upgrade", "switch-proxy", "reboot"}}).find("pb.yml: unknown step 'reboot'"), std::string::npos);
  EXPECT_NE(error_of({"cutover", "pb.yml", {"maintenance-on", "snapshot", "upgrade", "upgrade", "switch-proxy"}}).find("appears twice"), std::string::npos);
  EXPECT_NE(error_of({"cutover", "pb.yml", {"maintenance-on", "snapshot", "switch-proxy"}}).find("must keep step 'upgrade'"), std::string::npos);
  // The one that loses data: a snapshot before maintenance misses the last writes.
  EXPECT_NE(error_of({"cutover", "pb.yml", {"snapshot", "maintenance-on", "upgrade", "switch-proxy"}}).find("step 'snapshot' must come after 'maintenance-on'"),
            std::string::npos);
}

TEST(PlaybookTest, InsertsSiteStepsBeforeAndAfterTheirAnchors) {
  auto plan = core::compose_plan(kGood, rules(), {site_step("theme", "upgrade", false), site_step("plugins", "snapshot", true)});
  EXPECT_EQ(names(plan), (std::vector<std::string>{"maintenance-on", "plugins", "snapshot", "upgrade", "theme", "checks", "switch-proxy"}));
  EXPECT_EQ(plan[1].site_step, 1);
  EXPECT_EQ(plan[4].site_step, 0);
}

TEST(PlaybookTest, SiteStepsOnlyJoinTheirOperations) {
  auto plan = core::compose_plan(kGood, rules(), {site_step("only-rehearse", "upgrade", false, {"rehearse"})});
  EXPECT_EQ(names(plan), kGood.steps);
}

TEST(PlaybookTest, ASiteStepAtAnUnknownAnchorNamesTheConfigLine) {
  auto e = error_of(kGood, {site_step("theme", "upgrayed", false)});
  EXPECT_NE(e.find("site.yml:9: site step 'theme' is anchored at 'upgrayed'"), std::string::npos) << e;
  EXPECT_NE(error_of(kGood, {site_step("upgrade", "checks", false)}).find("has the name of another step"), std::string::npos);
}

TEST(PlaybookTest, BuiltInPlaybooksParse) {
  for (const char* op : {"cutover", "rehearse", "rollback"}) {
    auto pb = config::load_playbook(op, "");
    EXPECT_EQ(pb.operation, op);
    EXPECT_GE(pb.steps.size(), 7u) << op;
  }
  auto cut = config::load_playbook("cutover", "");
  EXPECT_EQ(cut.steps.front(), "prepare-code");
  EXPECT_EQ(cut.steps.back(), "record");
}

TEST(PlaybookTest, PlaybookSyntaxErrorsNameFileLineAndColumn) {
  try {
    config::parse_playbook("operation: cutover\nsteps:\n  - a\n  - {x: 1}\n", "cutover", "my.yml");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "my.yml:4:5: each step is a name");
  }
  EXPECT_THROW(config::parse_playbook("operation: rollback\nsteps: [a]\n", "cutover", "my.yml"), UsageError);
}

TEST(PlaybookTest, SiteStepsFromConfig) {
  std::string yaml = R"(site: demo
public_url: http://demo.test
pool: /srv/p
db:
  password_env: PW
proxy:
  container: p
  config_dir: /var/p
  url: http://127.0.0.1:1
steps:
  - name: theme
    after: purge-caches
    cfg: {theme: boost}
  - name: plugins
    before: start-green
    operations: [cutover]
    host: [/usr/local/bin/install-plugins, --verbose]
  - name: warm
    before: switch-proxy
    exec: [php, admin/cli/build_theme_css.php]
)";
  auto c = config::parse_site_config(yaml, "site.yml");
  ASSERT_EQ(c.steps.size(), 3u);
  EXPECT_EQ(c.steps[0].kind, "cfg");
  EXPECT_EQ(c.steps[0].settings.at(0), (std::pair<std::string, std::string>{"theme", "boost"}));
  EXPECT_EQ(c.steps[1].kind, "host");
  EXPECT_TRUE(c.steps[1].before);
  EXPECT_EQ(c.steps[1].operations, std::vector<std::string>{"cutover"});
  EXPECT_EQ(c.steps[2].command.at(1), "admin/cli/build_theme_css.php");
  EXPECT_EQ(c.steps[2].where, "site.yml:18");
  auto bad = [&](const std::string& step) {
    try {
      config::parse_site_config(yaml.substr(0, yaml.find("steps:")) + "steps:\n" + step, "site.yml");
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(bad("  - name: x\n    cfg: {a: 1}\n").find("needs exactly one of 'before' or 'after'"), std::string::npos);
  EXPECT_NE(bad("  - name: x\n    after: upgrade\n").find("needs exactly one of 'cfg'"), std::string::npos);
  EXPECT_NE(bad("  - name: x\n    after: upgrade\n    host: [relative/path]\n").find("absolute path"), std::string::npos);
  EXPECT_NE(bad("  - name: x\n    after: upgrade\n    operations: [rollback]\n    cfg: {a: 1}\n").find("cutover or rehearse"), std::string::npos);
}
