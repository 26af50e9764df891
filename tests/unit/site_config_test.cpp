#include "mupgrade/config/load.hpp"
#include "mupgrade/core/error.hpp"

#include <gtest/gtest.h>

using mupgrade::config::parse_site_config;

namespace {
const char* kValid = R"(site: demo
public_url: http://demo.moodle.test:18080
pool: /srv/mupgrade-pool/demo
db:
  kind: postgresql
  password_file: /etc/mupgrade/demo.dbpass
web:
  port: 18080
proxy:
  container: mupgrade-demo-proxy
  config_dir: /var/lib/mupgrade/demo/proxy
  url: http://127.0.0.1:18080
target:
  code: /srv/releases/moodle-4.5
settings:
  enableaitools: 0
)";

std::string error_of(const std::string& yaml) {
  try {
    parse_site_config(yaml, "site.yml");
  } catch (const mupgrade::Error& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST(SiteConfigTest, ReadsAValidConfigWithDefaults) {
  auto c = parse_site_config(kValid, "site.yml");
  EXPECT_EQ(c.site, "demo");
  EXPECT_EQ(c.public_host, "demo.moodle.test:18080");
  EXPECT_EQ(c.db.kind, mupgrade::core::DbKind::postgresql);
  EXPECT_EQ(c.db.user, "postgres");
  EXPECT_EQ(c.db.image, "mupgrade/postgres:15");
  EXPECT_EQ(c.state_dir, "/var/lib/mupgrade/demo");
  EXPECT_EQ(c.network, "mupgrade-demo");
  EXPECT_EQ(c.web_port, 18080);
  EXPECT_EQ(c.proxy.kind, mupgrade::core::ProxyKind::haproxy);
  EXPECT_EQ(c.target_image, "mupgrade/web:php8.2");
  ASSERT_EQ(c.after_upgrade_settings.size(), 1u);
  EXPECT_EQ(c.after_upgrade_settings[0].first, "enableaitools");
}

TEST(SiteConfigTest, ErrorsNameFileLineColumnAndWhatIsExpected) {
  struct Case {
    std::string yaml;
    std::string expected;
  } cases[] = {
      {std::string(kValid) + "colour: blue\n", "site.yml:17:1: unknown key 'colour' in the site config"},
      {"site: demo\n", "site.yml:1:1: missing 'public_url'"},
      {std::string(kValid).replace(std::string(kValid).find("postgresql"), 10, "oracle"), "site.yml:5:9: 'kind' must be mariadb or postgresql"},
      {std::string(kValid).replace(std::string(kValid).find("port: 18080"), 11, "port: lots"), "site.yml:8:9: 'port' must be a whole number"},
      {std::string(kValid) + "upgrade:\n  timeout_s: 1\n", "'timeout_s' must be between 10 and 86400"},
      {std::string(kValid).replace(std::string(kValid).find("/srv/mupgrade-pool/demo"), 23, "relative/pool"), "site.yml:3:7: 'pool' must be an absolute path"},
      {std::string(kValid).replace(std::string(kValid).find("http://127.0.0.1:18080"), 22, "http://10.0.0.5:80"), "'url' must reach the proxy on loopback"},
      {"site: [unclosed\n", "site.yml:"},
      {"just a string\n", "the config must be a mapping"},
  };
  for (const auto& c : cases) EXPECT_NE(error_of(c.yaml).find(c.expected), std::string::npos) << error_of(c.yaml);
}

TEST(SiteConfigTest, ThePasswordComesFromExactlyOneSource) {
  std::string both = std::string(kValid).replace(std::string(kValid).find("  password_file"), 0, "  password_env: DBPW\n");
  EXPECT_NE(error_of(both).find("exactly one of 'password_file' or 'password_env'"), std::string::npos) << error_of(both);
  const std::string line = "  password_file: /etc/mupgrade/demo.dbpass\n";
  std::string none = std::string(kValid).replace(std::string(kValid).find(line), line.size(), "");
  EXPECT_NE(error_of(none).find("exactly one of"), std::string::npos) << error_of(none);
}

TEST(SiteConfigTest, SiteNamesThatCannotNameContainersAreRefused) {
  std::string bad = std::string(kValid).replace(0, 10, "site: my site");
  EXPECT_NE(error_of(bad).find("'site' may hold only letters"), std::string::npos) << error_of(bad);
}

TEST(SiteConfigTest, TheTargetReleaseComesFromCodeGitOrAnImage) {
  const std::string code = "target:\n  code: /srv/releases/moodle-4.5\n";
  auto with_target = [&](const std::string& target) { return std::string(kValid).replace(std::string(kValid).find(code), code.size(), target); };

  auto git = parse_site_config(with_target("target:\n  git: {repo: /srv/moodle.git, ref: MOODLE_405_STABLE}\n"), "site.yml");
  EXPECT_EQ(git.target_git_repo, "/srv/moodle.git");
  EXPECT_EQ(git.target_git_ref, "MOODLE_405_STABLE");
  EXPECT_EQ(git.target_code, "");
  EXPECT_EQ(git.target_image_code, "") << "the image only runs the code";

  auto image = parse_site_config(with_target("target:\n  image: registry.example.org/moodle:4.5.1\n"), "site.yml");
  EXPECT_EQ(image.target_image, "registry.example.org/moodle:4.5.1");
  EXPECT_EQ(image.target_image_code, "/var/www/moodle");
  auto elsewhere = parse_site_config(with_target("target:\n  image: m:4.5\n  image_code: /opt/moodle\n"), "site.yml");
  EXPECT_EQ(elsewhere.target_image_code, "/opt/moodle");
  auto code_and_image = parse_site_config(with_target("target:\n  code: /srv/r\n  image: m:4.5\n"), "site.yml");
  EXPECT_EQ(code_and_image.target_image_code, "") << "code given: the image only runs it";

  struct Case {
    std::string target, expected;
  } cases[] = {
      {"target:\n  code: /srv/r\n  git: {repo: /srv/moodle.git, ref: v4.5.1}\n", "site.yml:15:8: give one release source: 'target.code' or 'target.git', not both"},
      {"target:\n  git: {repo: moodle.git, ref: v4.5.1}\n", "'repo' must be an absolute path"},
      {"target:\n  git: {repo: /srv/moodle.git}\n", "missing 'ref'"},
      {"target:\n  git: {repo: /srv/moodle.git, ref: --upload-pack=x}\n", "'ref' must name a branch, tag or commit"},
      {"target:\n  git: {repo: /srv/moodle.git, ref: v4.5.1, branch: x}\n", "unknown key 'branch' in target.git"},
      {"target:\n  code: /srv/r\n  image_code: /opt/moodle\n", "'image_code' applies only when the code comes from target.image"},
      {"target:\n  image: m:4.5\n  image_code: opt/moodle\n", "'image_code' must be an absolute path in the image"},
  };
  for (const auto& c : cases) EXPECT_NE(error_of(with_target(c.target)).find(c.expected), std::string::npos) << error_of(with_target(c.target));
}

// An empty name or path would silently mean something else (every site's containers, the
// current dir, the default): given but empty is an error, as is a list or mapping where a
// plain value belongs. Every such error is a config error (a mupgrade::UsageError, exit 2)
// naming its place, never a yaml-cpp exception.
TEST(SiteConfigTest, EmptyValuesAndValuesOfTheWrongShapeAreConfigErrors) {
  auto replaced = [](const std::string& from, const std::string& to) {
    std::string y = kValid;
    return y.replace(y.find(from), from.size(), to);
  };
  struct Case {
    std::string yaml, expected;
  } cases[] = {
      {replaced("site: demo", "site: \"\""), "site.yml:1:7: 'site' must not be empty"},
      {replaced("pool: /srv/mupgrade-pool/demo", "pool: ''"), "site.yml:3:7: 'pool' must not be empty"},
      {std::string(kValid) + "state_dir: \"\"\n", "'state_dir' must not be empty"},
      {std::string(kValid) + "network: \"\"\n", "'network' must not be empty"},
      {replaced("  container: mupgrade-demo-proxy", "  container: \"\""), "'container' must not be empty"},
      {replaced("  code: /srv/releases/moodle-4.5", "  code: \"\""), "'code' must not be empty"},
      {replaced("  kind: postgresql", "  kind: postgresql\n  name: \"\""), "'name' must not be empty"},
      {std::string(kValid) + "steps:\n  - name: s\n    after: upgrade\n    operations: [{cutover: yes}]\n    cfg: {a: b}\n",
       "site.yml:20:18: an operation must be a plain value"},
      {std::string(kValid) + "steps:\n  - name: s\n    after: upgrade\n    cfg: {theme: [a]}\n", "a 'cfg' setting's value must be a plain value"},
      {std::string(kValid) + "steps:\n  - name: s\n    after: upgrade\n    exec: [php, {a: b}]\n", "each word of 'exec' must be a plain value"},
      {std::string(kValid) + "steps:\n  - name: s\n    after: upgrade\n    host: [\"\"]\n", "'host' names no program"},
      {std::string(kValid) + "rehearse:\n  smoke_paths: [\"\"]\n", "each smoke path starts with '/'"},
      {std::string(kValid) + "[a]: b\n", "a key in the site config must be a plain name"},
  };
  for (const auto& c : cases) {
    try {
      parse_site_config(c.yaml, "site.yml");
      ADD_FAILURE() << "accepted:\n" << c.yaml;
    } catch (const mupgrade::UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(c.expected), std::string::npos) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not a config error: " << e.what() << "\n" << c.yaml;
    }
  }
  // Moodle's table prefix may be empty; a setting's value may be an empty string.
  std::string empty_prefix = replaced("  kind: postgresql", "  kind: postgresql\n  prefix: \"\"");
  auto ok = parse_site_config(empty_prefix.replace(empty_prefix.find("enableaitools: 0"), 16, "enableaitools: \"\""), "site.yml");
  EXPECT_EQ(ok.db.prefix, "");
  ASSERT_EQ(ok.after_upgrade_settings.size(), 1u);
  EXPECT_EQ(ok.after_upgrade_settings[0].second, "");
}

// yaml-cpp reads the first of two equal keys, other YAML readers the last: a key given twice
// is refused wherever keys are names.
TEST(SiteConfigTest, AKeyGivenTwiceIsRefused) {
  struct Case {
    std::string yaml, expected;
  } cases[] = {
      {std::string(kValid) + "pool: /srv/other\n", "site.yml:17:1: 'pool' is given twice in the site config (first on line 3)"},
      {std::string(kValid).replace(std::string(kValid).find("  kind: postgresql"), 0, "  kind: mariadb\n"), "'kind' is given twice in db"},
      {std::string(kValid).replace(std::string(kValid).find("  enableaitools: 0"), 0, "  enableaitools: 1\n"), "'enableaitools' is given twice in settings"},
      {std::string(kValid) + "steps:\n  - name: s\n    after: upgrade\n    cfg: {theme: boost, theme: classic}\n", "'theme' is given twice"},
  };
  for (const auto& c : cases) EXPECT_NE(error_of(c.yaml).find(c.expected), std::string::npos) << error_of(c.yaml);
}

TEST(SiteConfigTest, ReadsACacheServiceAndRefusesOneThatCannotBeSnapshotted) {
  EXPECT_FALSE(parse_site_config(kValid, "site.yml").cache.enabled()) << "no cache service unless configured";
  auto c = parse_site_config(std::string(kValid) + "cache:\n  kind: redis\n", "site.yml");
  EXPECT_EQ(c.cache.kind, "redis");
  EXPECT_EQ(c.cache.image, "mupgrade/redis:7.0");
  EXPECT_EQ(parse_site_config(std::string(kValid) + "cache:\n  kind: redis\n  image: my/redis:7\n", "site.yml").cache.image, "my/redis:7");
  EXPECT_NE(error_of(std::string(kValid) + "cache:\n  kind: memcached\n").find("site.yml:18:9: 'kind' must be redis"), std::string::npos)
      << error_of(std::string(kValid) + "cache:\n  kind: memcached\n");
  EXPECT_NE(error_of(std::string(kValid) + "cache:\n  image: my/redis:7\n").find("missing 'kind'"), std::string::npos);
  EXPECT_NE(error_of(std::string(kValid) + "cache:\n  kind: redis\n  size: 1\n").find("unknown key 'size' in cache"), std::string::npos);
}
