// `mupgrade init` over the recording fakes, on both DB kinds: the happy path, the refusals that
// must create nothing, a failure at every call and a crash (kill -9) at every call followed by
// the next `init`: no run leaves anything of the site behind, and no secret reaches an argv or
// the journal.

#include "fakes/fakes.hpp"

#include "mupgrade/config/load.hpp"
#include "mupgrade/core/site_files.hpp"
#include "mupgrade/ops/init.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace mupgrade;
using fakes::Crash;
using fakes::FaultPlan;
namespace fs = std::filesystem;

namespace {

const char* kCode = "/pool/releases/4.4.1";
const char* kAdminPassword = "Adm1n-secret-pw";
const char* kDbPassword = "db-secret-pw";

struct Quiet : ops::Progress {
  void step_started(const core::Step&, size_t, size_t) override {}
  void step_ended(const core::Step&, const core::StepTiming&) override {}
  void upgrade_component(double, const std::string&) override {}
  void note(const std::string&) override {}
};

/// A host with a Moodle code tree in the pool and the project's images; no site yet.
struct InitWorld {
  explicit InitWorld(ports::DbKind kind) : host("/pool", "http://127.0.0.1:18090") {
    state_dir = (fs::temp_directory_path() / fmt::format("mupgrade-unit-init-{}-{}", ::getpid(), counter++)).string();
    fs::remove_all(state_dir);
    auto& st = host.storage;
    st.create_subvolume(kCode);
    st.write_file(std::string(kCode) + "/version.php",
                  "<?php\n$version  = 2024042201.00;\n$release  = '4.4.1 (Build: 20240610)';\n$branch   = '404';\n", {});
    st.make_dirs("/etc/mupgrade");
    host.containers.images.insert("mupgrade/haproxy:2.6");
    host.http.proxy_container = "mupgrade-fresh-proxy";
    req.site = "fresh";
    req.code = kCode;
    req.db_kind = kind == ports::DbKind::mariadb ? "mariadb" : "postgresql";
    req.url = "http://moodle.test:18090";
    req.pool = "/pool/fresh";
    req.state_dir = state_dir;
    req.config_file = "/etc/mupgrade/fresh.yml";
    req.admin_password = Secret(kAdminPassword);
    req.db_password = Secret(kDbPassword);
    before_nodes = st.paths_under("/");
    host.faults.log.clear();
  }
  ~InitWorld() { fs::remove_all(state_dir); }

  ops::InitOutcome init() {
    Quiet p;
    std::ostringstream out;
    return ops::init(host.ports(), req, p, out);
  }

  /// Nothing of the site exists: files, subvolumes, containers, networks, state.
  void expect_nothing_left(const std::string& context) {
    EXPECT_EQ(host.storage.paths_under("/"), before_nodes) << context;
    EXPECT_TRUE(host.containers.containers.empty()) << context << ": " << host.containers.containers.begin()->first;
    EXPECT_TRUE(host.containers.networks.empty()) << context << ": " << host.containers.networks.begin()->first;
    EXPECT_FALSE(fs::exists(state_dir)) << context << ": the state dir is left";
  }

  static inline int counter = 0;
  fakes::FakeHost host;
  ops::InitRequest req;
  std::string state_dir;
  std::set<std::string> before_nodes;
};

class InitTest : public ::testing::TestWithParam<ports::DbKind> {};

std::string file_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_P(InitTest, MakesASiteThatServesThroughTheProxyAndWritesItsConfig) {
  InitWorld w(GetParam());
  auto o = w.init();
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  auto& st = w.host.storage;
  auto set = o.set;
  EXPECT_NE(set.find("-4.4.1"), std::string::npos) << set;
  for (const auto& sub : {"db", "moodledata", "code"}) EXPECT_TRUE(st.is_subvolume("/pool/fresh/sets/" + set + "/" + sub)) << sub;
  EXPECT_EQ(st.file_mode("/pool/fresh/sets/" + set + "/moodledata")->uid, 33u);
  // config.php: the set's DB by its alias, the public URL, the password; readable by www-data only.
  std::string config_php = st.read_file("/pool/fresh/sets/" + set + "/code/config.php").value_or("");
  EXPECT_NE(config_php.find("$CFG->dbhost    = 'db';"), std::string::npos) << config_php;
  EXPECT_NE(config_php.find("$CFG->wwwroot   = 'http://moodle.test:18090';"), std::string::npos) << config_php;
  EXPECT_NE(config_php.find(std::string("'") + kDbPassword + "'"), std::string::npos);
  EXPECT_EQ(st.file_mode("/pool/fresh/sets/" + set + "/code/config.php")->mode, 0640u);
  // Moodle was installed once, with the admin password, which went through a file now gone.
  ASSERT_EQ(w.host.containers.installed.count(set), 1u);
  EXPECT_EQ(w.host.containers.installed[set], kAdminPassword);
  EXPECT_FALSE(st.exists("/pool/fresh/sets/" + set + "/moodledata/.mupgrade-adminpass"));
  // The proxy runs and the public URL answers from the set.
  ASSERT_TRUE(w.host.containers.inspect_container("mupgrade-fresh-proxy"));
  EXPECT_TRUE(w.host.containers.inspect_container("mupgrade-fresh-proxy")->running);
  EXPECT_EQ(w.host.containers.containers["mupgrade-fresh-proxy"].spec.ports.at(0).host_port, 18090);
  EXPECT_EQ(w.host.http.serving, set);
  // The site config reads back as the site, and the DB password is in a 0600 file.
  auto yaml = st.read_file("/etc/mupgrade/fresh.yml");
  ASSERT_TRUE(yaml);
  EXPECT_EQ(yaml->find(kDbPassword), std::string::npos) << "the DB password is never in the YAML";
  auto cfg = config::parse_site_config(*yaml, "fresh.yml");
  EXPECT_EQ(cfg.site, "fresh");
  EXPECT_EQ(cfg.public_url, "http://moodle.test:18090");
  EXPECT_EQ(cfg.db.kind, GetParam());
  EXPECT_EQ(cfg.web_port, 18090);
  EXPECT_EQ(cfg.db.password_file, w.state_dir + "/db_password");
  EXPECT_EQ(file_text(cfg.db.password_file), kDbPassword);
  EXPECT_EQ(fs::status(cfg.db.password_file).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  // The set is registered live: plan and cutover start from it.
  auto state = core::load_site_state(w.state_dir);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->live_set, set);
}

TEST_P(InitTest, NoSecretReachesAnArgvOrTheJournal) {
  InitWorld w(GetParam());
  auto o = w.init();
  ASSERT_TRUE(o.ok) << o.error;
  for (const auto& call : w.host.faults.log) {
    EXPECT_EQ(call.find(kAdminPassword), std::string::npos) << call;
    EXPECT_EQ(call.find(kDbPassword), std::string::npos) << call;
  }
  std::string journal = file_text(o.journal);
  ASSERT_FALSE(journal.empty());
  EXPECT_EQ(journal.find(kAdminPassword), std::string::npos);
  EXPECT_EQ(journal.find(kDbPassword), std::string::npos);
}

TEST_P(InitTest, BadInputIsRefusedAndCreatesNothing) {
  struct Case {
    std::string what;
    std::function<void(InitWorld&)> spoil;
  };
  std::vector<Case> cases = {
      {"no code tree", [](InitWorld& w) { w.req.code = "/pool/nothing-here"; }},
      {"a tree without version.php", [](InitWorld& w) { w.host.storage.make_dirs("/pool/empty"); w.req.code = "/pool/empty"; }},
      {"pool not on btrfs", [](InitWorld& w) { w.req.pool = "/srv/plain/fresh"; }},
      {"https URL", [](InitWorld& w) { w.req.url = "https://moodle.test"; }},
      {"URL with a path", [](InitWorld& w) { w.req.url = "http://moodle.test:18090/moodle"; }},
      {"bad port", [](InitWorld& w) { w.req.url = "http://moodle.test:99999"; }},
      {"bad DB kind", [](InitWorld& w) { w.req.db_kind = "oracle"; }},
      {"bad site name", [](InitWorld& w) { w.req.site = "a/b"; }},
      {"relative code path", [](InitWorld& w) { w.req.code = "releases/4.4.1"; }},
      {"missing web image", [](InitWorld& w) { w.req.web_image = "nowhere/web:1"; }},
      {"no admin password", [](InitWorld& w) { w.req.admin_password = Secret(); }},
      {"the config exists", [](InitWorld& w) { w.host.storage.write_file("/etc/mupgrade/fresh.yml", "site: fresh\n", {}); }},
      {"the site's containers exist", [](InitWorld& w) { w.host.containers.create_container({"mupgrade-fresh-proxy", "mupgrade/haproxy:2.6"}); }},
      {"sets in the pool", [](InitWorld& w) { w.host.storage.create_subvolume("/pool/fresh/sets/x/db"); }},
  };
  for (const auto& c : cases) {
    InitWorld w(GetParam());
    c.spoil(w);
    auto nodes = w.host.storage.paths_under("/");
    auto containers = w.host.containers.containers.size();
    w.host.faults.log.clear();
    EXPECT_THROW(w.init(), Error) << c.what;
    EXPECT_EQ(w.host.storage.paths_under("/"), nodes) << c.what;
    EXPECT_EQ(w.host.containers.containers.size(), containers) << c.what;
    EXPECT_TRUE(w.host.containers.networks.empty()) << c.what;
    EXPECT_FALSE(fs::exists(w.state_dir)) << c.what;
    for (const auto& call : w.host.faults.log)
      EXPECT_TRUE(call.rfind("containers.image", 0) == 0 || call.rfind("storage.space", 0) == 0) << c.what << ": changed something: " << call;
  }
}

TEST_P(InitTest, ASecondInitOfTheSameSiteIsRefused) {
  InitWorld w(GetParam());
  ASSERT_TRUE(w.init().ok);
  try {
    w.init();
    FAIL() << "a second init was not refused";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("exists already"), std::string::npos) << e.what();
  }
}

TEST_P(InitTest, AFailureAtAnyCallLeavesNothingBehind) {
  std::vector<std::string> calls;
  {
    InitWorld w(GetParam());
    ASSERT_TRUE(w.init().ok);
    calls = w.host.faults.log;
  }
  ASSERT_GT(calls.size(), 20u);
  for (size_t i = 0; i < calls.size(); ++i) {
    InitWorld w(GetParam());
    w.host.faults.at_call(i, FaultPlan::Kind::fail);
    std::string context = "failure at call " + std::to_string(i) + " (" + calls[i] + ")";
    try {
      auto o = w.init();
      EXPECT_FALSE(o.ok) << context;
      EXPECT_TRUE(o.undo_failures.empty()) << context;
    } catch (const Error&) {
      // refused by the preflight, before anything was made
    }
    EXPECT_FALSE(w.host.faults.fired.empty()) << context;
    w.expect_nothing_left(context);
  }
}

TEST_P(InitTest, ACrashAtAnyCallIsUndoneByTheNextInit) {
  std::vector<std::string> calls;
  {
    InitWorld w(GetParam());
    ASSERT_TRUE(w.init().ok);
    calls = w.host.faults.log;
  }
  for (size_t i = 0; i < calls.size(); ++i) {
    std::string context = "crash at call " + std::to_string(i) + " (" + calls[i] + ")";
    {
      // The next init of the site undoes what the crashed one made, then refuses the bad code dir.
      InitWorld w(GetParam());
      w.host.faults.at_call(i, FaultPlan::Kind::crash);
      EXPECT_THROW(w.init(), Crash) << context;
      w.host.faults.clear();
      w.req.code = "/pool/nothing-here";
      EXPECT_THROW(w.init(), UsageError) << context;
      w.expect_nothing_left(context);
    }
    {
      // Or it undoes it and makes the site.
      InitWorld w(GetParam());
      w.host.faults.at_call(i, FaultPlan::Kind::crash);
      EXPECT_THROW(w.init(), Crash) << context;
      w.host.faults.clear();
      auto o = w.init();
      ASSERT_TRUE(o.ok) << context << ": " << o.error;
      EXPECT_EQ(w.host.storage.list_dir("/pool/fresh/sets").size(), 1u) << context;
      EXPECT_EQ(w.host.http.serving, o.set) << context;
    }
  }
}

// --cache redis: the first set gets its own Redis (the same Site code as a cutover's green),
// config.php keeps sessions in it, and the YAML says `cache`, so the next green gets one too.
TEST_P(InitTest, WithCacheRedisTheFirstSetHasItsOwnRedisAndSessionsInIt) {
  InitWorld w(GetParam());
  w.req.cache_kind = "redis";
  auto o = w.init();
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  auto& st = w.host.storage;
  std::string dir = "/pool/fresh/sets/" + o.set;
  EXPECT_TRUE(st.is_subvolume(dir + "/cache"));
  std::string redis = "mupgrade-fresh-" + o.set + "-cache";
  auto info = w.host.containers.inspect_container(redis);
  ASSERT_TRUE(info) << "the set's Redis";
  EXPECT_TRUE(info->running);
  EXPECT_EQ(w.host.containers.containers[redis].spec.image, "mupgrade/redis:7.0");
  EXPECT_EQ(w.host.containers.containers[redis].spec.network_aliases, std::vector<std::string>{"cache"});
  EXPECT_TRUE(w.host.faults.seen("exec " + redis + ": redis-cli PING")) << "started and seen answering before Moodle's install";
  std::string config_php = st.read_file(dir + "/code/config.php").value_or("");
  EXPECT_NE(config_php.find("$CFG->session_handler_class = '\\core\\session\\redis';"), std::string::npos) << config_php;
  EXPECT_NE(config_php.find("$CFG->session_redis_host = 'cache';"), std::string::npos) << config_php;
  EXPECT_LT(config_php.find("session_redis_host"), config_php.find("lib/setup.php")) << "set before Moodle's setup reads it";
  auto cfg = config::parse_site_config(st.read_file("/etc/mupgrade/fresh.yml").value_or(""), "fresh.yml");
  EXPECT_EQ(cfg.cache.kind, "redis");
  EXPECT_EQ(cfg.cache.image, "mupgrade/redis:7.0");
  // Without --cache: none of it.
  InitWorld plain(GetParam());
  auto p = plain.init();
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_FALSE(plain.host.containers.inspect_container("mupgrade-fresh-" + p.set + "-cache"));
  EXPECT_EQ(plain.host.storage.read_file("/pool/fresh/sets/" + p.set + "/code/config.php").value_or("").find("session_redis"), std::string::npos);
  EXPECT_EQ(plain.host.storage.read_file("/etc/mupgrade/fresh.yml").value_or("").find("cache:"), std::string::npos);
}

TEST_P(InitTest, ABadCacheFlagIsRefusedAndCreatesNothing) {
  struct Case {
    std::string what, kind, image, says;
  };
  for (const auto& c : std::vector<Case>{{"memcached", "memcached", "", "--cache 'memcached' is not redis"},
                                         {"an image without --cache", "", "my/redis:7", "--cache-image is only for --cache"},
                                         {"a missing cache image", "redis", "nowhere/redis:1", "image nowhere/redis:1 is not on this host"}}) {
    InitWorld w(GetParam());
    w.req.cache_kind = c.kind;
    w.req.cache_image = c.image;
    try {
      w.init();
      ADD_FAILURE() << c.what << ": not refused";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.says), std::string::npos) << c.what << ": " << e.what();
    }
    w.expect_nothing_left(c.what);
  }
}

// With a Redis, a failure at any call is undone (its container too), and a crash at any call is
// undone by the next init, which then makes the site with its Redis.
TEST_P(InitTest, WithCacheRedisAFailureOrACrashAtAnyCallLeavesNothingBehind) {
  std::vector<std::string> calls;
  {
    InitWorld w(GetParam());
    w.req.cache_kind = "redis";
    ASSERT_TRUE(w.init().ok);
    calls = w.host.faults.log;
  }
  size_t redis_calls = 0;
  for (size_t i = 0; i < calls.size(); ++i) {
    if (calls[i].find("-cache") != std::string::npos) ++redis_calls;
    std::string context = "at call " + std::to_string(i) + " (" + calls[i] + ")";
    {
      InitWorld w(GetParam());
      w.req.cache_kind = "redis";
      w.host.faults.at_call(i, FaultPlan::Kind::fail);
      try {
        auto o = w.init();
        EXPECT_FALSE(o.ok) << "failure " << context;
        EXPECT_TRUE(o.undo_failures.empty()) << "failure " << context;
      } catch (const Error&) {  // refused by the preflight
      }
      EXPECT_FALSE(w.host.faults.fired.empty()) << "failure " << context;
      w.expect_nothing_left("failure " + context);
    }
    {
      InitWorld w(GetParam());
      w.req.cache_kind = "redis";
      w.host.faults.at_call(i, FaultPlan::Kind::crash);
      EXPECT_THROW(w.init(), Crash) << "crash " << context;
      w.host.faults.clear();
      auto o = w.init();
      ASSERT_TRUE(o.ok) << "crash " << context << ": " << o.error;
      EXPECT_TRUE(w.host.containers.inspect_container("mupgrade-fresh-" + o.set + "-cache")->running) << "crash " << context;
      EXPECT_EQ(w.host.containers.containers.size(), 4u) << "crash " << context << ": nothing of the crashed run is left";
    }
  }
  EXPECT_GE(redis_calls, 3u) << "faults were injected at the Redis's own calls (create, start, PING)";
}

namespace {

const char* kRepo = "/srv/moodle.git";
const char* kCommit = "3f2a9c1d04e5b6a7c8d9e0f1a2b3c4d5e6f7a8b9";
const char* kVersion443 = "<?php\n$version  = 2024042203.00;\n$release  = '4.4.3 (Build: 20240902)';\n$branch   = '404';\n";

std::string arg_after(const std::vector<std::string>& argv, const std::string& flag) {
  for (size_t i = 0; i + 1 < argv.size(); ++i)
    if (argv[i] == flag) return argv[i + 1];
  return {};
}

// A local repository whose tag v4.4.3 holds Moodle 4.4.3 and whose tag "empty" holds no Moodle,
// answered by a fake git (rev-parse, show, archive) and tar; the repository's nodes never change.
void use_git(InitWorld& w, const std::string& ref) {
  w.host.storage.make_dirs(kRepo);
  w.host.storage.write_file(std::string(kRepo) + "/HEAD", "ref: refs/heads/main\n", {});
  auto& st = w.host.storage;
  w.host.commands.on_run = [&st](const std::vector<std::string>& argv) -> ports::CommandResult {
    auto has = [&](const std::string& a) { return std::find(argv.begin(), argv.end(), a) != argv.end(); };
    if (argv[0] == "/usr/bin/git" && has("rev-parse")) {
      if (has("v4.4.3^{commit}")) return {0, false, std::string(kCommit) + "\n"};
      if (has("empty^{commit}")) return {0, false, "1111111111111111111111111111111111111111\n"};
      return {1, false, ""};
    }
    if (argv[0] == "/usr/bin/git" && has("show")) {
      if (has(std::string(kCommit) + ":version.php")) return {0, false, kVersion443};
      return {128, false, "fatal: path does not exist\n"};
    }
    if (argv[0] == "/usr/bin/git" && has("archive")) {
      st.write_file(arg_after(argv, "-o"), "tar of 4.4.3", {});
      return {0, false, ""};
    }
    if (argv[0] == "/bin/tar") {
      st.write_file(arg_after(argv, "-C") + "/version.php", kVersion443, {});
      return {0, false, ""};
    }
    return {0, false, ""};
  };
  w.req.code.clear();
  w.req.git_repo = kRepo;
  w.req.git_ref = ref;
  w.before_nodes = st.paths_under("/");
  w.host.faults.log.clear();
}

// An image keeping Moodle 4.4.3 at /var/www/html, read and copied out by throwaway containers.
void use_image(InitWorld& w) {
  auto& st = w.host.storage;
  w.host.containers.images.insert("school/moodle:4.4.3");
  w.host.containers.run_entrypoint = [&st](const ports::ContainerSpec& spec) -> std::pair<int, std::string> {
    if (spec.image != "school/moodle:4.4.3") return {0, ""};
    bool at_html = std::find(spec.entrypoint.begin(), spec.entrypoint.end(), "/var/www/html") != spec.entrypoint.end() ||
                   std::find(spec.entrypoint.begin(), spec.entrypoint.end(), "/var/www/html/.") != spec.entrypoint.end();
    if (!at_html) return {1, "cat: can't open\n"};
    if (spec.entrypoint.at(0) == "cp") {
      st.write_file(spec.mounts.at(0).host_path + "/version.php", kVersion443, {});
      return {0, ""};
    }
    return {0, kVersion443};
  };
  w.req.code.clear();
  w.req.image = "school/moodle:4.4.3";
  w.before_nodes = st.paths_under("/");
  w.host.faults.log.clear();
}

}  // namespace

TEST_P(InitTest, AGitRefIsExportedIntoTheFirstSetAndTheRepositoryIsLeftAlone) {
  InitWorld w(GetParam());
  use_git(w, "v4.4.3");
  auto repo_before = w.host.storage.paths_under(kRepo);
  auto o = w.init();
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  EXPECT_NE(o.set.find("-4.4.3"), std::string::npos) << o.set;
  auto& st = w.host.storage;
  EXPECT_EQ(st.read_file("/pool/fresh/sets/" + o.set + "/code/version.php").value_or(""), kVersion443);
  EXPECT_TRUE(st.is_subvolume("/pool/fresh/targets/git-3f2a9c1d04e5")) << "kept where cutover keeps its releases";
  EXPECT_FALSE(st.exists("/pool/fresh/targets/git-3f2a9c1d04e5.tar"));
  EXPECT_EQ(st.paths_under(kRepo), repo_before);
  for (const auto& call : w.host.faults.log) {
    if (call.find("/usr/bin/git") == std::string::npos) continue;
    EXPECT_TRUE(call.find(" rev-parse ") != std::string::npos || call.find(" show ") != std::string::npos ||
                  call.find(" archive ") != std::string::npos)
        << "git may only read the repository: " << call;
  }
  EXPECT_EQ(w.host.http.serving, o.set);
  // The site's config names no target: the installed code is not the next release.
  auto cfg = config::parse_site_config(st.read_file("/etc/mupgrade/fresh.yml").value_or(""), "fresh.yml");
  EXPECT_TRUE(cfg.target_git_repo.empty());
}

TEST_P(InitTest, AnImageMoodleDirIsCopiedOutByAThrowawayContainer) {
  InitWorld w(GetParam());
  use_image(w);
  auto o = w.init();
  ASSERT_TRUE(o.ok) << o.failed_step << ": " << o.error;
  EXPECT_NE(o.set.find("-4.4.3"), std::string::npos) << o.set;
  EXPECT_EQ(w.host.storage.read_file("/pool/fresh/sets/" + o.set + "/code/version.php").value_or(""), kVersion443);
  bool copied = false;
  for (const auto& call : w.host.faults.log) copied |= call.find("containers.create mupgrade-fresh-target-") == 0;
  EXPECT_TRUE(copied) << "the code came out of a container";
  for (const auto& [name, c] : w.host.containers.containers)
    EXPECT_EQ(name.find("-target-"), std::string::npos) << "a throwaway container is left: " << name;
}

TEST_P(InitTest, ABadGitOrImageSourceIsRefusedAndCreatesNothing) {
  struct Case {
    std::string what, says;
    std::function<void(InitWorld&)> spoil;
  };
  std::vector<Case> cases = {
      {"a ref that names nothing", "--ref 'v9.9.9' names no commit in /srv/moodle.git", [](InitWorld& w) { use_git(w, "v9.9.9"); }},
      {"a ref without version.php", "empty of /srv/moodle.git holds no Moodle code", [](InitWorld& w) { use_git(w, "empty"); }},
      {"no repository", "--git /srv/none.git is not a directory", [](InitWorld& w) { use_git(w, "v4.4.3"); w.req.git_repo = "/srv/none.git"; }},
      {"a URL", "is not a local repository", [](InitWorld& w) { use_git(w, "v4.4.3"); w.req.git_repo = "https://git.moodle.org/moodle.git"; }},
      {"--git without --ref", "--git needs --ref", [](InitWorld& w) { use_git(w, ""); }},
      {"--ref without --git", "--ref is only for --git", [](InitWorld& w) { w.req.git_ref = "v4.4.3"; }},
      {"two sources", "more than one of --code, --git, --image", [](InitWorld& w) { use_git(w, "v4.4.3"); w.req.code = kCode; }},
      {"no source", "no code to install", [](InitWorld& w) { w.req.code.clear(); }},
      {"an image not on the host", "--image nowhere/moodle:1 is not on this host", [](InitWorld& w) { use_image(w); w.req.image = "nowhere/moodle:1"; }},
      {"an image without Moodle there", "holds no Moodle code at /opt/moodle", [](InitWorld& w) { use_image(w); w.req.image_path = "/opt/moodle"; }},
  };
  for (const auto& c : cases) {
    InitWorld w(GetParam());
    c.spoil(w);
    auto nodes = w.host.storage.paths_under("/");
    w.host.faults.log.clear();
    try {
      w.init();
      ADD_FAILURE() << c.what << ": not refused";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(c.says), std::string::npos) << c.what << ": " << e.what();
      EXPECT_FALSE(e.hint().empty()) << c.what;
    }
    EXPECT_EQ(w.host.storage.paths_under("/"), nodes) << c.what;
    EXPECT_TRUE(w.host.containers.containers.empty()) << c.what;
    EXPECT_TRUE(w.host.containers.networks.empty()) << c.what;
    EXPECT_FALSE(fs::exists(w.state_dir)) << c.what;
  }
}

// A failure at any call after (and during) the extraction undoes it: no extracted tree, no
// targets dir, no pool, no throwaway container.
TEST_P(InitTest, AFailureAtAnyCallWithAGitOrImageSourceLeavesNothingBehind) {
  for (auto use : std::vector<std::function<void(InitWorld&)>>{[](InitWorld& w) { use_git(w, "v4.4.3"); }, use_image}) {
    std::vector<std::string> calls;
    {
      InitWorld w(GetParam());
      use(w);
      ASSERT_TRUE(w.init().ok);
      calls = w.host.faults.log;
    }
    size_t after_extraction = 0;
    for (size_t i = 0; i < calls.size(); ++i) {
      InitWorld w(GetParam());
      use(w);
      w.host.faults.at_call(i, FaultPlan::Kind::fail);
      std::string context = "failure at call " + std::to_string(i) + " (" + calls[i] + ")";
      try {
        auto o = w.init();
        EXPECT_FALSE(o.ok) << context;
        EXPECT_TRUE(o.undo_failures.empty()) << context;
        if (w.host.faults.log.size() > i && o.failed_step != "extract-code" && o.failed_step != "write-db-password") ++after_extraction;
      } catch (const Error&) {
        // refused by the preflight, before anything was made
      }
      EXPECT_FALSE(w.host.faults.fired.empty()) << context;
      w.expect_nothing_left(context);
    }
    EXPECT_GT(after_extraction, 10u) << "failures after the extraction were injected";
  }
}

TEST_P(InitTest, ACrashAtAnyCallWithAGitSourceIsUndoneByTheNextInit) {
  std::vector<std::string> calls;
  {
    InitWorld w(GetParam());
    use_git(w, "v4.4.3");
    ASSERT_TRUE(w.init().ok);
    calls = w.host.faults.log;
  }
  for (size_t i = 0; i < calls.size(); ++i) {
    std::string context = "crash at call " + std::to_string(i) + " (" + calls[i] + ")";
    InitWorld w(GetParam());
    use_git(w, "v4.4.3");
    w.host.faults.at_call(i, FaultPlan::Kind::crash);
    EXPECT_THROW(w.init(), Crash) << context;
    w.host.faults.clear();
    w.req.git_ref = "v9.9.9";
    EXPECT_THROW(w.init(), UsageError) << context;
    w.expect_nothing_left(context);
  }
}

TEST(InitConfig, TheWrittenYamlReadsBackWithEveryValue) {
  ops::InitRequest req;
  req.site = "m1";
  req.code = "/srv/code";
  req.db_kind = "postgresql";
  req.url = "http://moodle.example.edu";
  req.pool = "/srv/pool/m1/";
  req.proxy_kind = "nginx";
  req.prefix = "mx_";
  auto cfg = ops::init_site_config(req);
  auto back = config::parse_site_config(core::render_site_yaml(cfg), "m1.yml");
  EXPECT_EQ(back.pool, "/srv/pool/m1");
  EXPECT_EQ(back.state_dir, "/var/lib/mupgrade/m1");
  EXPECT_EQ(back.public_host, "moodle.example.edu");
  EXPECT_EQ(back.web_port, 80);
  EXPECT_EQ(back.db.kind, core::DbKind::postgresql);
  EXPECT_EQ(back.db.user, "postgres");
  EXPECT_EQ(back.db.prefix, "mx_");
  EXPECT_EQ(back.proxy.kind, core::ProxyKind::nginx);
  EXPECT_EQ(back.proxy.url, "http://127.0.0.1:80");
  EXPECT_EQ(back.proxy.container, "mupgrade-m1-proxy");
  EXPECT_TRUE(back.target_code.empty());
  // The comments say what wrote it and what else a kind may be (not the kind it is).
  auto yaml = core::render_site_yaml(cfg);
  EXPECT_NE(yaml.find("written by 'mupgrade init'"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("kind: postgresql                         # mariadb or postgresql\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("kind: nginx                         # haproxy or nginx\n"), std::string::npos) << yaml;
  EXPECT_NE(core::render_site_yaml(cfg, "adopt").find("written by 'mupgrade adopt'"), std::string::npos);
}

TEST(InitConfig, PhpQuotingEscapesQuotesAndBackslashes) {
  EXPECT_EQ(core::php_quote("a'b\\c"), "'a\\'b\\\\c'");
}

INSTANTIATE_TEST_SUITE_P(BothDbs, InitTest, ::testing::Values(ports::DbKind::mariadb, ports::DbKind::postgresql),
                         [](const auto& p) { return std::string(ports::to_string(p.param)); });
