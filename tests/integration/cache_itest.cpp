// A site with a Redis per set (config `cache`) on the real components: a user logged in on blue
// (session in blue's Redis) is still logged in on green after a cutover, green's upgrade purged
// green's MUC store and never blue's, a rollback serves blue's sessions again, and prune
// removes green's Redis with green. The cutover crosses Moodle 4.5 (4.4.1 -> 4.5.0), whose
// code reads Redis sessions in another shape than 4.4 wrote (real 4.3 -> 4.5.6 logged every
// user out): mupgrade carries them over in green's Redis.

#include "site_fixture.hpp"

#include "mupgrade/ops/operations.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <sstream>

using namespace mupgrade;
using namespace mupgrade::itest;

namespace {

constexpr int kPort = 18740;

// A logged-in session's cookie value, from the stand-in's login through the proxy.
std::string login(const LifecycleSite& s) {
  std::string out;
  EXPECT_EQ(sh(fmt::format("curl -s -D - -o /dev/null -H 'Host: {}' --data username=admin {}/login/index.php", s.cfg.public_host, s.cfg.proxy.url), &out), 0);
  std::smatch m;
  if (!std::regex_search(out, m, std::regex("MoodleSession=([0-9a-f]{32})"))) ADD_FAILURE() << "no session cookie in:\n" << out;
  return m.size() > 1 ? m[1].str() : "";
}

// "user: admin" or "user: guest", and which set answered.
std::string whoami(const LifecycleSite& s, const std::string& sid) {
  std::string out;
  sh(fmt::format("curl -s -D - -H 'Host: {}' -H 'Cookie: MoodleSession={}' {}/local/standin/whoami.php", s.cfg.public_host, sid, s.cfg.proxy.url), &out);
  std::smatch set, user;
  std::regex_search(out, set, std::regex("[Xx]-[Mm]upgrade-[Ss]et: ([^\r\n]+)"));
  std::regex_search(out, user, std::regex("user: [a-z]+"));
  return (user.size() ? user[0].str() : "no answer") + " on " + (set.size() > 1 ? set[1].str() : "?");
}

std::string redis(const std::string& container, const std::vector<std::string>& args) {
  docker::ExecOptions o;
  o.cmd = {"redis-cli"};
  o.cmd.insert(o.cmd.end(), args.begin(), args.end());
  auto r = engine().exec(container, o);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

}  // namespace

TEST(CacheService, SessionsInRedisSurviveACutoverAndGreensPurgeNeverTouchesBluesRedis) {
  SiteCleanup cleanup;
  SiteOptions opts;
  opts.redis = true;
  auto s = make_site(cleanup, db::Kind::mariadb, kPort, "", opts);
  std::string blue_redis = s->site->cache_container(s->blue);
  ASSERT_TRUE(engine().inspect_container(blue_redis)->running);

  std::string sid = login(*s);
  ASSERT_EQ(whoami(*s, sid), "user: admin on " + s->blue);
  ASSERT_EQ(redis(blue_redis, {"TYPE", "sess_" + sid}), "string\n") << "4.4 keeps the session's data in blue's Redis as a string";
  ASSERT_EQ(redis(blue_redis, {"EXISTS", "sess_session_" + sid}), "0\n") << "not in 4.5's shape";
  // A cached value the upgrade's purge must drop on green, and leave alone on blue.
  ASSERT_EQ(sh(fmt::format("curl -sf -o /dev/null -H 'Host: {}' {}/login/index.php", s->cfg.public_host, s->cfg.proxy.url)), 0);
  std::string hash = redis(blue_redis, {"KEYS", "muc_*"});
  ASSERT_NE(hash.find("muc_"), std::string::npos) << "the login page filled blue's MUC store";
  hash = hash.substr(0, hash.find('\n'));
  redis(blue_redis, {"HSET", hash, "marker", "cached-before-the-cutover"});

  std::string out;
  ASSERT_EQ(run_binary("cutover --target " + s->release("4.5.0") + " --config " + s->config_file, &out), 0) << out;
  EXPECT_NE(out.find("carried 1 session(s)"), std::string::npos) << out;
  std::string green = s->site->state()->live_set;
  ASSERT_NE(green, s->blue);
  std::string green_redis = s->site->cache_container(green);
  EXPECT_EQ(whoami(*s, sid), "user: admin on " + green) << "the same cookie is logged in on green";
  EXPECT_EQ(redis(green_redis, {"TYPE", "sess_session_" + sid}), "hash\n") << "carried to 4.5's shape in green's Redis";
  EXPECT_EQ(redis(blue_redis, {"EXISTS", "sess_session_" + sid}), "0\n") << "never written to blue's";
  EXPECT_EQ(redis(green_redis, {"HGET", hash, "marker"}), "\n") << "green's upgrade.php purged green's MUC store";
  EXPECT_EQ(redis(blue_redis, {"HGET", hash, "marker"}), "cached-before-the-cutover\n") << "blue's Redis untouched by green's purge";
  EXPECT_EQ(redis(blue_redis, {"EXISTS", "sess_" + sid}), "1\n");

  // A session made on green lives in green's Redis only: after a rollback it is gone.
  std::string on_green = login(*s);
  ASSERT_EQ(whoami(*s, on_green), "user: admin on " + green);
  ASSERT_EQ(run_binary("rollback --config " + s->config_file, &out), 0) << out;
  EXPECT_EQ(whoami(*s, sid), "user: admin on " + s->blue) << "blue's sessions serve again";
  EXPECT_EQ(whoami(*s, on_green), "user: guest on " + s->blue) << "a session made on green does not travel back";
  EXPECT_FALSE(engine().inspect_container(green_redis)->running) << "green's Redis stopped with green";

  // prune removes green, its Redis and the Redis data with it.
  auto cfg = s->cfg;
  cfg.retention.keep_sets = 1;
  ops::Site site(cfg, host_ports());
  std::ostringstream pruned;
  EXPECT_EQ(ops::prune(site, {false}, pruned), 0) << pruned.str();
  EXPECT_FALSE(engine().inspect_container(green_redis)) << pruned.str();
  EXPECT_FALSE(std::filesystem::exists(site.paths(green).cache)) << pruned.str();
  EXPECT_TRUE(engine().inspect_container(blue_redis)->running);
  EXPECT_EQ(whoami(*s, sid), "user: admin on " + s->blue);
}
