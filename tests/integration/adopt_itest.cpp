// `mupgrade adopt --from` through the binary on real Docker, btrfs, MariaDB, PostgreSQL, PHP and
// HAProxy: stacks made with Compose labels (no compose binary) by support/adopt_stack, laid out
// like the families adopt knows, with the stand-in Moodle installed (Bitnami-like, moodlehq-like,
// Alpine-like with a Redis holding the sessions and a MUC store: a user logged in on the stack is
// still logged in on the adopted set, and again after the undo).
// Each is adopted (dry run, then --yes), a cutover and a rollback run on it, then `adopt
// --undo` brings the original stack back, serving with its data.

#include "adopt_stack.hpp"
#include "chaos.hpp"
#include "site_fixture.hpp"

#include "mupgrade/core/moodle_version.hpp"
#include "mupgrade/core/site_state.hpp"
#include "mupgrade/http/http_client.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <thread>

using namespace mupgrade;
using namespace mupgrade::itest;
namespace fs = std::filesystem;

namespace {

/// The site an adopt test makes: a unique name, its pool and state dir (removed by SiteCleanup)
/// and its config file (removed first).
struct AdoptSite {
  SiteCleanup cleanup;
  std::string site, config;
  explicit AdoptSite(const std::string& prefix) : site(unique_name(prefix)) {
    cleanup.site = site;
    cleanup.pool = test_pool() + "/" + site;
    cleanup.state = scratch_dir() + "/" + site;
    config = cleanup.state + "-site.yml";
  }
  ~AdoptSite() { std::remove(config.c_str()); }
};

class AdoptITest : public ::testing::TestWithParam<StackFamily> {};

TEST_P(AdoptITest, AdoptCutoverRollbackThenUndoRestoresTheStack) {
  const auto& fam = GetParam();
  bool alpine = fam.kind == StackKind::alpine;
  StackVolumes volumes;  // destroyed last: a volume goes once the containers using it are gone
  Cleanup cleanup;
  AdoptSite made("adopt");
  auto& site_cleanup = made.cleanup;
  const std::string& site = made.site;
  const std::string& config = made.config;
  std::string data = make_subvolume(cleanup, "stack");  // bind-mounted dirs and secrets
  auto stack = make_stack(cleanup, volumes, fam, data);

  // A user logged in on the stack (the Alpine-like one keeps the session in its Redis).
  std::string sid = alpine ? login(fam.port, stack.host) : "";
  if (alpine) {
    ASSERT_EQ(whoami(fam.port, stack.host, sid), "user: admin");
  }
  std::string out;
  std::string common = fmt::format("--site {} --pool {} --state-dir {} --config {}", site, site_cleanup.pool, site_cleanup.state, config);
  // The dry run: what, where, how long; nothing made.
  ASSERT_EQ(run_binary(fmt::format("adopt --from {} {} 2>&1", stack.project, common), &out), 0) << out;
  EXPECT_NE(out.find("expected downtime"), std::string::npos) << out;
  EXPECT_EQ(out.find("Moodle-pw-1"), std::string::npos) << out;
  EXPECT_EQ(out.find("Root-pw-1"), std::string::npos) << out;
  EXPECT_EQ(out.find(kAlpineRedisPassword), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(site_cleanup.pool));
  EXPECT_FALSE(fs::exists(config));

  auto t0 = std::chrono::steady_clock::now();
  int rc = run_binary(fmt::format("adopt --from {} {} --yes 2>&1", stack.project, common), &out);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(rc, 0) << out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("downtime ([0-9.]+) s"))) << out;
  std::printf("adopt --yes (%s): %.1f s, downtime %s s\n%s", fam.name, secs, m[1].str().c_str(), out.c_str());
  EXPECT_EQ(out.find("Moodle-pw-1"), std::string::npos) << out;
  auto state = core::load_site_state(site_cleanup.state);
  ASSERT_TRUE(state);
  std::string adopted = state->live_set;
  auto r = login_page(fam.port, stack.host);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["x-mupgrade-set"], adopted);
  EXPECT_EQ(read_file(site_cleanup.pool + "/sets/" + adopted + "/moodledata/users-file.txt"), "kept");
  EXPECT_FALSE(engine().inspect_container(stack.web)->running);
  EXPECT_FALSE(engine().inspect_container(stack.db)->running);
  EXPECT_EQ(read_file(config).find("Moodle-pw-1"), std::string::npos);
  if (alpine) {
    // The stack's Redis asked for its password (SAVE in the window took it); mupgrade keeps it
    // nowhere: not in its output, the site config, the journal and state, the set's MUC config
    // (the set's Redis asks none). The set's config.php is the site's own with the set's values
    // appended (the last assignment wins), so its old line stays there, beside dbpass.
    EXPECT_EQ(out.find(kAlpineRedisPassword), std::string::npos) << out;
    std::string holders;
    sh(fmt::format("grep -rlF '{}' '{}' '{}' '{}/sets/{}/moodledata/muc' 2>&1 || true", kAlpineRedisPassword, site_cleanup.state, config,
                   site_cleanup.pool, adopted),
       &holders);
    EXPECT_EQ(holders, "") << "files holding the stack's Redis password";
    EXPECT_EQ(core::config_php_setting(read_file(site_cleanup.pool + "/sets/" + adopted + "/code/config.php"), "session_redis_auth"), "");
    // Still logged in: the session came over in the stack's Redis dump, saved in the window.
    EXPECT_EQ(whoami(fam.port, stack.host, sid), "user: admin") << out;
    EXPECT_FALSE(engine().inspect_container(stack.redis)->running);
    EXPECT_NE(read_file(config).find("kind: redis"), std::string::npos);
    docker::ExecOptions keys;
    keys.cmd = {"redis-cli", "TYPE", "sess_" + sid};  // 4.4.1 keeps a session as a string <prefix><sid> (4.5: a hash)
    auto k = engine().exec("mupgrade-" + site + "-" + adopted + "-cache", keys);
    EXPECT_EQ(k.out, "string\n") << k.err;
  }

  // The adopted site upgrades and rolls back like any other.
  std::string releases = data + "/releases";
  make_release("4.4.3", releases + "/4.4.3");
  ASSERT_EQ(run_binary(fmt::format("cutover --config {} --target {}/4.4.3 2>&1", config, releases), &out), 0) << out;
  EXPECT_NE(core::load_site_state(site_cleanup.state)->live_set, adopted);
  ASSERT_EQ(run_binary(fmt::format("rollback --config {} 2>&1", config), &out), 0) << out;
  EXPECT_EQ(core::load_site_state(site_cleanup.state)->live_set, adopted);

  // Undo: the original stack serves again, with its data, out of maintenance.
  ASSERT_EQ(run_binary(fmt::format("adopt --undo --site {} --config {} 2>&1", site, config), &out), 0) << out;
  EXPECT_TRUE(engine().inspect_container(stack.web)->running);
  EXPECT_TRUE(engine().inspect_container(stack.db)->running);
  r = login_page(fam.port, stack.host);
  EXPECT_EQ(r.status, 200) << r.transport_error;
  EXPECT_NE(r.headers["x-mupgrade-set"], adopted);
  EXPECT_NE(r.body.find("4.4.1"), std::string::npos) << r.body.substr(0, 300);
  EXPECT_EQ(read_file(stack.moodledata_host + "/users-file.txt"), "kept");
  EXPECT_FALSE(fs::exists(stack.moodledata_host + "/climaintenance.html"));
  if (alpine) {
    EXPECT_TRUE(engine().inspect_container(stack.redis)->running);
    EXPECT_EQ(whoami(fam.port, stack.host, sid), "user: admin") << "the stack's Redis is back with its sessions";
    EXPECT_EQ(read_file(stack.moodledata_host + "/muc/config.php"), kAlpineMuc) << "the stack's MUC config untouched";
  }
  EXPECT_FALSE(fs::exists(site_cleanup.pool + "/sets"));
  EXPECT_FALSE(fs::exists(config));
  EXPECT_TRUE(engine().list_containers({{"mupgrade.site", site}}, true).empty());
}

INSTANTIATE_TEST_SUITE_P(Families, AdoptITest,
                         ::testing::Values(StackFamily{"bitnami_mariadb_volumes", StackKind::bitnami, 18720},
                                           StackFamily{"moodlehq_postgres_binds", StackKind::moodlehq, 18721},
                                           StackFamily{"alpine_postgres_redis", StackKind::alpine, 18822}),
                         [](const auto& p) { return std::string(p.param.name); });

// Code built into the stack's web image (the stand-in COPY'd into an image of the stand-in's web
// image), plus a plugin an admin installed through the web UI, which lives in the running
// container's own layer: adopt finds the code in the container, copies it out (the plugin
// too) into the set, which serves through the proxy; a cutover and a rollback run on it; `adopt
// --undo` brings the stack back with its layer as it was.
const char* kWebPlugin = "<?php\n$plugin->component = 'local_webplugin';\n$plugin->version = 2024100100;\n$plugin->requires = 2024042200;\n";
// A plugin installed while adopt runs, after its first copy of the code (and a page of it).
const char* kLatePlugin = "<?php\n$plugin->component = 'local_lateplugin';\n$plugin->version = 2024110100;\n$plugin->requires = 2024042200;\n";
const char* kLatePage = "<?php\necho \"late plugin served\\n\";\n";

// The plugin's files written into the running container, then installed in the DB, as
// Moodle's admin pages do.
void install_plugin(const std::string& web, const std::string& name, const std::string& version_php, const std::string& page = "") {
  docker::ExecOptions files;
  files.cmd = {"sh", "-c",
               fmt::format("mkdir -p /var/www/html/local/{0} && printf '%s' \"$PLUGIN\" > /var/www/html/local/{0}/version.php && "
                           "{{ [ -z \"$PAGE\" ] || printf '%s' \"$PAGE\" > /var/www/html/local/{0}/index.php; }} && "
                           "chown -R 33:33 /var/www/html/local/{0}",
                           name)};
  files.env = {"PLUGIN=" + version_php, "PAGE=" + page};
  ASSERT_EQ(engine().exec(web, files).exit_code, 0);
  docker::ExecOptions install;
  install.cmd = {"php", "admin/cli/upgrade.php", "--non-interactive"};
  install.user = "33";
  install.workdir = "/var/www/html";
  install.timeout = std::chrono::seconds(60);
  auto installed = engine().exec(web, install);
  ASSERT_EQ(installed.exit_code, 0) << installed.out << installed.err;
}

// The journal line of `event` of `step` (its "at" field, ISO 8601 UTC); "" when absent.
std::string journal_at(const std::string& journal, const std::string& event, const std::string& step) {
  std::istringstream in(read_file(journal));
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.value("event", "") == event && j.value("step", "") == step) return j.value("at", "");
  }
  return "";
}

// `adopt --yes` in the background, stopped (SIGSTOP) the moment its journal shows copy-live
// ended: then `between` runs, the stack still serving, before the window begins; then adopt
// goes on. The pause is checked while adopt is stopped: copy-live ended, old-maintenance-on not
// begun (else the attempt is undone and made again, at most three times: the test never asserts
// on a pause that missed its point). Returns adopt's output; `journal` gets its journal.
std::string adopt_pausing_after_copy_live(const std::string& args, const std::string& state_dir, const std::string& undo_args,
                                          const std::function<void()>& between, std::string& journal) {
  for (int attempt = 1; attempt <= 3; ++attempt) {
    std::string log = scratch_dir() + "/adopt-paused.log";
    chaos::Background adopt(args, log);
    journal.clear();
    auto copied = [&] {
      std::string p = read_file(state_dir + "/journal/adopt");
      while (!p.empty() && p.back() == '\n') p.pop_back();
      if (p.empty() || !fs::exists(p)) return false;
      journal = p;
      try {
        auto summary = core::read_journal(p);
        const auto* r = summary.find("copy-live");
        return r && r->ended;
      } catch (const std::exception&) {
        return false;  // a half-written header: read again
      }
    };
    bool seen = false;
    for (auto end = std::chrono::steady_clock::now() + std::chrono::minutes(3); !seen && adopt.running() && std::chrono::steady_clock::now() < end;)
      if (!(seen = copied())) std::this_thread::sleep_for(std::chrono::microseconds(500));
    if (!seen) {
      ADD_FAILURE() << "copy-live never ended: " << read_file(log);
      return read_file(log);
    }
    ::kill(adopt.pid, SIGSTOP);
    int st = 0;
    EXPECT_EQ(::waitpid(adopt.pid, &st, WUNTRACED), adopt.pid);
    bool paused = WIFSTOPPED(st) && journal_at(journal, "begin", "old-maintenance-on").empty();
    if (paused) between();
    ::kill(adopt.pid, SIGCONT);
    int rc = adopt.wait();
    std::string out = read_file(log);
    if (paused) {
      EXPECT_EQ(rc, 0) << out;
      return out;
    }
    std::printf("attempt %d: the pause came after old-maintenance-on began; undone, again\n", attempt);
    EXPECT_EQ(rc, 0) << out;
    std::string undone;
    EXPECT_EQ(run_binary("adopt --undo " + undo_args + " 2>&1", &undone), 0) << undone;
  }
  ADD_FAILURE() << "three attempts missed the pause between copy-live and the window";
  return "";
}

TEST(AdoptITestImageCode, CodeBuiltIntoTheWebImageIsAdoptedFromTheRunningContainerThenUndone) {
  StackFamily fam{"moodlehq_image_code", StackKind::moodlehq, 18920, 0, true};
  StackVolumes volumes;  // destroyed last: the image and volumes go once the containers are gone
  Cleanup cleanup;
  AdoptSite made("adoptimg");
  auto& site_cleanup = made.cleanup;
  const std::string& site = made.site;
  const std::string& config = made.config;
  std::string data = make_subvolume(cleanup, "stack");
  auto stack = make_stack(cleanup, volumes, fam, data);
  ASSERT_TRUE(engine().inspect_container(stack.web)->mounts.size() == 1) << "only moodledata is mounted";
  install_plugin(stack.web, "webplugin", kWebPlugin);
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(login_page(fam.port, stack.host).status, 200) << "the stack serves with its plugin installed";

  std::string out, common = fmt::format("--site {} --pool {} --state-dir {} --config {}", site, site_cleanup.pool, site_cleanup.state, config);
  ASSERT_EQ(run_binary(fmt::format("adopt --from {} {} 2>&1", stack.project, common), &out), 0) << out;
  EXPECT_NE(out.find("code       from the image of container " + stack.web + " at /var/www/html ("), std::string::npos) << out;
  EXPECT_NE(out.find("a plugin installed, updated or removed meanwhile comes along"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(site_cleanup.pool));

  // adopt --yes, and an admin installing another plugin through the admin pages after adopt
  // copied the code, before the window: the final pass brings it along.
  std::string journal, installed_at;
  auto t0 = std::chrono::steady_clock::now();
  out = adopt_pausing_after_copy_live(
      fmt::format("adopt --from {} {} --yes", stack.project, common), site_cleanup.state, fmt::format("--site {} --config {}", site, config),
      [&] {
        install_plugin(stack.web, "lateplugin", kLatePlugin, kLatePage);
        EXPECT_EQ(login_page(fam.port, stack.host).status, 200) << "the stack still serves";
        installed_at = core::utc_now_iso();
      },
      journal);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(HasFailure()) << out;
  // Installed after copy-live ended and before the window began, as the journal has it.
  ASSERT_FALSE(installed_at.empty());
  EXPECT_LT(journal_at(journal, "end", "copy-live"), installed_at);
  EXPECT_GT(journal_at(journal, "begin", "old-maintenance-on"), installed_at);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("downtime ([0-9.]+) s"))) << out;
  std::printf("adopt --yes (%s, paused for a plugin install): %.1f s, downtime %s s\n%s", fam.name, secs, m[1].str().c_str(), out.c_str());
  auto state = core::load_site_state(site_cleanup.state);
  ASSERT_TRUE(state);
  std::string set_code = site_cleanup.pool + "/sets/" + state->live_set + "/code";
  EXPECT_EQ(read_file(set_code + "/local/lateplugin/version.php"), kLatePlugin) << "installed after the first copy";
  auto summary = core::read_journal(journal);
  const auto* final_pass = summary.find("copy-final");
  ASSERT_TRUE(final_pass);
  EXPECT_EQ(final_pass->facts.value("code_copied", nlohmann::json::array()), nlohmann::json({"local/lateplugin", "local/webplugin"}))
      << "the layer's own plugins, each once, not the tree";
  auto late = http::get(fmt::format("http://127.0.0.1:{}/local/lateplugin/index.php", fam.port), stack.host, std::chrono::seconds(10));
  EXPECT_EQ(late.status, 200);
  EXPECT_EQ(late.body, "late plugin served\n");
  EXPECT_EQ(late.headers["x-mupgrade-set"], state->live_set) << "served by the adopted set";
  auto r = login_page(fam.port, stack.host);
  EXPECT_EQ(r.status, 200) << r.transport_error;
  EXPECT_EQ(r.headers["x-mupgrade-set"], state->live_set);
  EXPECT_NE(r.body.find("4.4.1"), std::string::npos) << r.body.substr(0, 300);
  EXPECT_TRUE(fs::exists(set_code + "/version.php"));
  EXPECT_EQ(read_file(set_code + "/local/webplugin/version.php"), kWebPlugin) << "the container's layer came along";
  struct stat st{};
  EXPECT_EQ(::stat((set_code + "/local/webplugin/version.php").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 33u);
  EXPECT_NE(read_file(set_code + "/config.php").find("$CFG->dbhost = 'db';"), std::string::npos);
  EXPECT_FALSE(engine().inspect_container(stack.web)->running);

  // Upgraded and rolled back like any adopted site (the next release with the site's plugin).
  std::string release = data + "/releases/4.4.3";
  make_release("4.4.3", release);
  fs::create_directories(release + "/local/webplugin");
  std::ofstream(release + "/local/webplugin/version.php") << kWebPlugin;
  fs::create_directories(release + "/local/lateplugin");
  std::ofstream(release + "/local/lateplugin/version.php") << kLatePlugin;
  ASSERT_EQ(run_binary(fmt::format("cutover --config {} --target {} 2>&1", config, release), &out), 0) << out;
  EXPECT_NE(core::load_site_state(site_cleanup.state)->live_set, state->live_set);
  ASSERT_EQ(run_binary(fmt::format("rollback --config {} 2>&1", config), &out), 0) << out;
  EXPECT_EQ(core::load_site_state(site_cleanup.state)->live_set, state->live_set);

  ASSERT_EQ(run_binary(fmt::format("adopt --undo --site {} --config {} 2>&1", site, config), &out), 0) << out;
  EXPECT_TRUE(engine().inspect_container(stack.web)->running);
  r = login_page(fam.port, stack.host);
  EXPECT_EQ(r.status, 200) << r.transport_error;
  EXPECT_NE(r.headers["x-mupgrade-set"], state->live_set) << "the stack's own web, not the set";
  EXPECT_NE(r.body.find("4.4.1"), std::string::npos);
  EXPECT_EQ(engine().read_container_file(stack.web, "/var/www/html/local/webplugin/version.php"), kWebPlugin);
  EXPECT_EQ(engine().read_container_file(stack.web, "/var/www/html/config.php").value_or("").find("'db'"), std::string::npos);
  EXPECT_FALSE(fs::exists(stack.moodledata_host + "/climaintenance.html"));
  EXPECT_FALSE(fs::exists(site_cleanup.pool + "/sets"));
  EXPECT_TRUE(engine().list_containers({{"mupgrade.site", site}}, true).empty());
}

}  // namespace
