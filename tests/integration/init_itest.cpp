// `mupgrade init` through the binary on the real components (Docker, btrfs, the stand-in on
// MariaDB and PostgreSQL, HAProxy): a new site from a code tree in one command, answering
// through the public URL from its first set, then a `plan` to the next release that is ready;
// and from a git ref (--git --ref) of a repository the test makes.

#include "fixtures.hpp"
#include "site_fixture.hpp"

#include "mupgrade/core/site_state.hpp"
#include "mupgrade/http/http_client.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

using namespace mupgrade;
using namespace mupgrade::itest;
namespace fs = std::filesystem;

namespace {

struct Case {
  const char* db;
  int port;
};

class InitITest : public ::testing::TestWithParam<Case> {};

TEST_P(InitITest, InitMakesASiteThatServesAndPlansReady) {
  auto [db, port] = GetParam();
  SiteCleanup cleanup;
  std::string site = unique_name("init");
  cleanup.site = site;
  cleanup.pool = test_pool() + "/" + site;
  cleanup.state = scratch_dir() + "/" + site;
  std::string releases = cleanup.pool + "-releases";  // beside the pool, removed below
  struct ReleasesCleanup {
    std::string dir;
    ~ReleasesCleanup() { sh("rm -rf -- '" + dir + "'"); }
  } releases_cleanup{releases};
  fs::create_directories(releases);
  make_release("4.4.1", releases + "/4.4.1");
  make_release("4.4.3", releases + "/4.4.3");
  std::string config = cleanup.state + "-site.yml", pwfile = cleanup.state + "-adminpw";
  struct FilesCleanup {
    std::string a, b;
    ~FilesCleanup() { std::remove(a.c_str()), std::remove(b.c_str()); }
  } files_cleanup{config, pwfile};
  {
    std::ofstream(pwfile) << "Init-admin-1\n";
    ::chmod(pwfile.c_str(), 0600);
  }
  std::string url = fmt::format("http://moodle.test:{}", port);
  std::string out;
  auto t0 = std::chrono::steady_clock::now();
  int rc = run_binary(fmt::format("init --site {} --code {}/4.4.1 --db {} --url {} --pool {} --state-dir {} --config {} "
                                  "--admin-password-file {} 2>&1",
                                  site, releases, db, url, cleanup.pool, cleanup.state, config, pwfile),
                      &out);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(rc, 0) << out;
  std::printf("mupgrade init (%s): %.1f s\n%s", db, secs, out.c_str());
  EXPECT_EQ(out.find("Init-admin-1"), std::string::npos) << "the admin password was printed";

  auto state = core::load_site_state(cleanup.state);
  ASSERT_TRUE(state);
  // Through the proxy on the public port: the login page of the new set.
  auto r = http::get(fmt::format("http://127.0.0.1:{}/login/index.php", port), fmt::format("moodle.test:{}", port), std::chrono::seconds(10));
  EXPECT_EQ(r.status, 200) << r.transport_error;
  EXPECT_EQ(r.headers["x-mupgrade-set"], state->live_set);
  // The secrets: the DB password in a 0600 file, not in the YAML.
  struct stat st {};
  ASSERT_EQ(::stat((cleanup.state + "/db_password").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string yaml = read_file(config);
  EXPECT_EQ(yaml.find(read_file(cleanup.state + "/db_password")), std::string::npos);
  // Moodle knows the admin password it was given (the stand-in stores its hash).
  EXPECT_NE(read_file(cleanup.pool + "/sets/" + state->live_set + "/code/config.php").find("'db'"), std::string::npos);

  // The next release: plan is ready.
  ASSERT_EQ(run_binary(fmt::format("plan --config {} --target {}/4.4.3 2>&1", config, releases), &out), 0) << out;
  EXPECT_NE(out.find("4.4.3"), std::string::npos) << out;

  // A second init of the same site is refused, changing nothing.
  EXPECT_EQ(run_binary(fmt::format("init --site {} --code {}/4.4.1 --db {} --url {} --pool {} --state-dir {} --config {} "
                                   "--admin-password-file {} 2>&1",
                                   site, releases, db, url, cleanup.pool, cleanup.state, config, pwfile),
                       &out),
            2)
      << out;
  EXPECT_NE(out.find("exists already"), std::string::npos) << out;
  r = http::get(fmt::format("http://127.0.0.1:{}/login/index.php", port), fmt::format("moodle.test:{}", port), std::chrono::seconds(10));
  EXPECT_EQ(r.status, 200);
}

TEST(InitITestFailure, AFailedInstallLeavesNothingBehind) {
  SiteCleanup cleanup;
  std::string site = unique_name("initfail");
  cleanup.site = site;
  cleanup.pool = test_pool() + "/" + site;
  cleanup.state = scratch_dir() + "/" + site;
  std::string code = cleanup.pool + "-code";
  struct CodeCleanup {
    std::string dir;
    ~CodeCleanup() { sh("rm -rf -- '" + dir + "'"); }
  } code_cleanup{code};
  make_release("4.4.1", code);
  // A release whose install script fails: Moodle's own exit code 1 and message.
  {
    std::ofstream(code + "/admin/cli/install_database.php", std::ios::trunc)
        << "<?php\nfwrite(STDERR, \"Database tables already present; CLI installation cannot continue.\\n\");\nexit(1);\n";
  }
  std::string config = cleanup.state + "-site.yml", pwfile = cleanup.state + "-adminpw";
  std::ofstream(pwfile) << "Init-admin-1\n";
  std::string out;
  int rc = run_binary(fmt::format("init --site {} --code {} --db mariadb --url http://moodle.test:18642 --pool {} --state-dir {} "
                                  "--config {} --admin-password-file {} 2>&1",
                                  site, code, cleanup.pool, cleanup.state, config, pwfile),
                      &out);
  std::remove(pwfile.c_str());
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("mupgrade: error: init failed at step 'install-moodle'"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(cleanup.pool)) << out;
  EXPECT_FALSE(fs::exists(cleanup.state)) << out;
  EXPECT_FALSE(fs::exists(config)) << out;
  EXPECT_TRUE(engine().list_containers({{"mupgrade.site", site}}, true).empty());
  EXPECT_TRUE(engine().list_networks({{"mupgrade.site", site}}).empty());
}

// --git REPO --ref REF: a missing ref is refused with nothing made; a ref is exported into the
// first set, which serves through the proxy, and the repository is left as it was.
TEST(InitITestGit, AGitRefBecomesTheFirstSetAndAMissingRefIsRefused) {
  SiteCleanup cleanup;
  std::string site = unique_name("initgit");
  cleanup.site = site;
  cleanup.pool = test_pool() + "/" + site;
  cleanup.state = scratch_dir() + "/" + site;
  std::string repo = scratch_dir() + "/" + site + "-repo";
  std::string config = cleanup.state + "-site.yml", pwfile = cleanup.state + "-adminpw";
  struct Cleanup {
    std::string repo, a, b;
    ~Cleanup() {
      sh("rm -rf -- '" + repo + "'");
      std::remove(a.c_str()), std::remove(b.c_str());
    }
  } files_cleanup{repo, config, pwfile};
  fs::create_directories(repo);
  make_release("4.4.1", repo);
  std::string out;
  std::string git = "git -C '" + repo + "' -c user.email=t@example.invalid -c user.name=t ";
  ASSERT_EQ(sh(git + "init -q && " + git + "add -A && " + git + "commit -qm 4.4.1 && " + git + "tag v4.4.1", &out), 0) << out;
  std::string head_before;
  ASSERT_EQ(sh(git + "rev-parse HEAD", &head_before), 0);
  {
    std::ofstream(pwfile) << "Init-admin-1\n";
    ::chmod(pwfile.c_str(), 0600);
  }
  auto init = [&](const std::string& ref) {
    return run_binary(fmt::format("init --site {} --git {} --ref {} --db mariadb --url http://moodle.test:18700 --pool {} --state-dir {} "
                                  "--config {} --admin-password-file {} 2>&1",
                                  site, repo, ref, cleanup.pool, cleanup.state, config, pwfile),
                      &out);
  };

  EXPECT_EQ(init("v9.9.9"), 2) << out;
  EXPECT_NE(out.find("mupgrade: error: --ref 'v9.9.9' names no commit in " + repo), std::string::npos) << out;
  EXPECT_NE(out.find("mupgrade: hint:"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(cleanup.pool)) << out;
  EXPECT_FALSE(fs::exists(cleanup.state)) << out;
  EXPECT_FALSE(fs::exists(config)) << out;

  ASSERT_EQ(init("v4.4.1"), 0) << out;
  auto state = core::load_site_state(cleanup.state);
  ASSERT_TRUE(state);
  EXPECT_NE(state->live_set.find("4.4.1"), std::string::npos) << state->live_set;
  auto r = http::get("http://127.0.0.1:18700/login/index.php", "moodle.test:18700", std::chrono::seconds(10));
  EXPECT_EQ(r.status, 200) << r.transport_error;
  EXPECT_EQ(r.headers["x-mupgrade-set"], state->live_set);
  // The repository: same HEAD, no change in its work tree, no worktree added.
  std::string head_after, status, worktrees;
  EXPECT_EQ(sh(git + "rev-parse HEAD", &head_after), 0);
  EXPECT_EQ(head_after, head_before);
  EXPECT_EQ(sh(git + "status --porcelain", &status), 0);
  EXPECT_EQ(status, "");
  EXPECT_EQ(sh(git + "worktree list --porcelain | grep -c '^worktree '", &worktrees), 0);
  EXPECT_EQ(worktrees, "1\n");
}

// init --cache redis: the first set's own Redis, sessions in it, and the site config says so.
TEST(InitITestCache, WithCacheRedisALoginSessionLivesInTheSetsRedis) {
  SiteCleanup cleanup;
  std::string site = unique_name("initredis");
  cleanup.site = site;
  cleanup.pool = test_pool() + "/" + site;
  cleanup.state = scratch_dir() + "/" + site;
  std::string code = cleanup.pool + "-code";  // beside the pool, removed below
  std::string config = cleanup.state + "-site.yml", pwfile = cleanup.state + "-adminpw";
  struct Cleanup {
    std::string code, a, b;
    ~Cleanup() {
      sh("rm -rf -- '" + code + "'");
      std::remove(a.c_str()), std::remove(b.c_str());
    }
  } files_cleanup{code, config, pwfile};
  make_release("4.4.1", code);
  {
    std::ofstream(pwfile) << "Init-admin-1\n";
    ::chmod(pwfile.c_str(), 0600);
  }
  constexpr int kPort = 18800;
  std::string out;
  ASSERT_EQ(run_binary(fmt::format("init --site {} --code {} --db mariadb --url http://moodle.test:{} --pool {} --state-dir {} "
                                   "--config {} --admin-password-file {} --cache redis 2>&1",
                                   site, code, kPort, cleanup.pool, cleanup.state, config, pwfile),
                       &out),
            0)
      << out;
  auto state = core::load_site_state(cleanup.state);
  ASSERT_TRUE(state);
  std::string redis = fmt::format("mupgrade-{}-{}-cache", site, state->live_set);
  auto info = engine().inspect_container(redis);
  ASSERT_TRUE(info) << out;
  EXPECT_TRUE(info->running);
  EXPECT_NE(read_file(config).find("cache:"), std::string::npos) << read_file(config);

  std::string base = fmt::format("http://127.0.0.1:{}", kPort), host = fmt::format("moodle.test:{}", kPort);
  auto r = http::get(base + "/login/index.php", host, std::chrono::seconds(10));
  EXPECT_EQ(r.status, 200) << r.transport_error;
  EXPECT_EQ(r.headers["x-mupgrade-set"], state->live_set);
  ASSERT_EQ(sh(fmt::format("curl -s -D - -o /dev/null -H 'Host: {}' --data username=admin {}/login/index.php", host, base), &out), 0);
  auto at = out.find("MoodleSession=");
  ASSERT_NE(at, std::string::npos) << "no session cookie:\n" << out;
  std::string sid = out.substr(at + 14, 32);
  docker::ExecOptions o;
  o.cmd = {"redis-cli", "TYPE", "sess_" + sid};  // 4.4.1 keeps a session as a string <prefix><sid> (4.5: a hash)
  auto e = engine().exec(redis, o);
  EXPECT_EQ(e.exit_code, 0) << e.err;
  EXPECT_EQ(e.out, "string\n") << "the login's session is in the set's Redis";
  EXPECT_FALSE(fs::exists(cleanup.pool + "/sets/" + state->live_set + "/moodledata/sessions/sess_" + sid)) << "not in files";
}

// --image IMAGE --image-path PATH: an image this host builds, with the code at a path of its
// own, is extracted into the first set, which serves through the proxy; a path the image does
// not hold is refused first, with nothing made (no throwaway container either).
TEST(InitITestImage, AnImagesCodeBecomesTheFirstSetAndAMissingPathIsRefused) {
  SiteCleanup cleanup;
  std::string site = unique_name("initimg");
  cleanup.site = site;
  cleanup.pool = test_pool() + "/" + site;
  cleanup.state = scratch_dir() + "/" + site;
  std::string ctx = scratch_dir() + "/" + site + "-image", image = site + ":4.4.1";
  std::string config = cleanup.state + "-site.yml", pwfile = cleanup.state + "-adminpw";
  struct Cleanup {
    std::string ctx, image, a, b;
    ~Cleanup() {
      sh("docker rmi -f '" + image + "' >/dev/null; rm -rf -- '" + ctx + "'");
      std::remove(a.c_str()), std::remove(b.c_str());
    }
  } files_cleanup{ctx, image, config, pwfile};
  make_release("4.4.1", ctx + "/code");
  std::ofstream(ctx + "/Dockerfile") << "FROM mupgrade/web:php8.2\nCOPY code/ /opt/moodle-code/\n";
  std::string out;
  ASSERT_EQ(sh("docker build -q -t '" + image + "' '" + ctx + "'", &out), 0) << out;
  {
    std::ofstream(pwfile) << "Init-admin-1\n";
    ::chmod(pwfile.c_str(), 0600);
  }
  auto init = [&](const std::string& path) {
    return run_binary(fmt::format("init --site {} --image {} --image-path {} --db mariadb --url http://moodle.test:18841 --pool {} "
                                  "--state-dir {} --config {} --admin-password-file {} 2>&1",
                                  site, image, path, cleanup.pool, cleanup.state, config, pwfile),
                      &out);
  };

  EXPECT_EQ(init("/opt/elsewhere"), 2) << out;
  EXPECT_NE(out.find("mupgrade: error: image " + image + " holds no Moodle code at /opt/elsewhere"), std::string::npos) << out;
  EXPECT_NE(out.find("mupgrade: hint:"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(cleanup.pool)) << out;
  EXPECT_FALSE(fs::exists(cleanup.state)) << out;
  EXPECT_FALSE(fs::exists(config)) << out;
  EXPECT_TRUE(engine().list_containers({{"mupgrade.site", site}}, true).empty());
  EXPECT_TRUE(engine().list_networks({{"mupgrade.site", site}}).empty());

  ASSERT_EQ(init("/opt/moodle-code"), 0) << out;
  auto state = core::load_site_state(cleanup.state);
  ASSERT_TRUE(state);
  EXPECT_NE(state->live_set.find("4.4.1"), std::string::npos) << state->live_set;
  auto r = http::get("http://127.0.0.1:18841/login/index.php", "moodle.test:18841", std::chrono::seconds(10));
  EXPECT_EQ(r.status, 200) << r.transport_error;
  EXPECT_EQ(r.headers["x-mupgrade-set"], state->live_set);
  EXPECT_NE(r.body.find("4.4.1"), std::string::npos) << r.body.substr(0, 300);
  // The set's code is the image's, extracted (not the image's filesystem mounted).
  EXPECT_TRUE(fs::exists(cleanup.pool + "/sets/" + state->live_set + "/code/version.php"));
}

INSTANTIATE_TEST_SUITE_P(BothDbs, InitITest, ::testing::Values(Case{"mariadb", 18640}, Case{"postgresql", 18641}),
                         [](const auto& p) { return std::string(p.param.db); });

}  // namespace
