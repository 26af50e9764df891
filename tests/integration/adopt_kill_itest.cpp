// kill -9 of `mupgrade adopt --from ... --yes` on real Docker, btrfs, the DB and HAProxy, on four
// stack families (support/adopt_stack.hpp), each with some moodledata and a forum post written
// through it, the binary killed at points asserted from the journal. The Bitnami-like stack
// (MariaDB) at three:
//  1. in copy-live, mid-rsync, while the stack serves;
//  2. in stop-old-stack, in the window: the stack in maintenance, its web stopped, its DB
//     stopping (it takes 2 s to shut down, as a busy one does) when the kill lands;
//  3. in start-proxy: the set started, the proxy being made on the stack's port.
// The Alpine-like stack (PostgreSQL as uid 70, a Redis holding a logged-in user's session) at
// two: what it adds to the Bitnami-like one is all in the window (the Redis SAVE and stop, the
// dump carried into the set's own Redis, the DB dir chowned to the set's postgres), so
//  2. in stop-old-stack, its Redis saved and stopped, its DB stopping;
//  3. in start-proxy, the set and its Redis started.
// A kill in the first copy is the same there (an rsync into the set, undone by removing the
// set), so it is not repeated: that keeps the Alpine-like run to about a minute.
// The moodlehq-like stacks (PostgreSQL in the project's image), with the code bind-mounted and
// with the code built into the web image, at the first two: in the first copy (the code copied
// out of the image through Docker's archive, then moodledata rsynced) and in the window (the
// code's delta read from the stopped web container's layer next). What they would add at the
// third, the set started, is what the Bitnami-like run already covers.
// After each kill `mupgrade status` (no site config yet) names the recovery, exactly: the undo,
// or adopt again (which undoes the killed one first); the test runs the command it names. The
// original stack serves its data again (the user still logged in), or the adopted set serves it
// with nothing lost; no container, network, subvolume, state, config or rsync is left.

#include "adopt_stack.hpp"
#include "chaos.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <regex>

using namespace mupgrade;
using namespace mupgrade::itest;
using chaos::Background;
using chaos::Campaign;
namespace fs = std::filesystem;

namespace {

struct Attempt {
  std::string site, pool, state, config;
  std::string args(const Stack& s) const {
    return fmt::format("adopt --from {} --site {} --pool {} --state-dir {} --config {}", s.project, site, pool, state, config);
  }
  std::string journal() const {
    std::string p = read_file(state + "/journal/adopt");
    while (!p.empty() && p.back() == '\n') p.pop_back();
    return p;
  }
  /// The running adoption's journal shows `step` begun.
  bool begun(const std::string& step) const {
    std::string j = journal();
    if (j.empty() || !fs::exists(j)) return false;
    try {
      auto summary = core::read_journal(j);
      const auto* r = summary.find(step);
      return r && r->begun;
    } catch (const std::exception&) {
      return false;  // a half-written header: read again
    }
  }
};

bool wait_until(const std::function<bool()>& done, std::chrono::seconds timeout) {
  for (auto end = chaos::Clock::now() + timeout; chaos::Clock::now() < end;) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// rsync processes still copying into `pool` (an orphan of the killed adopt would be one).
std::string rsyncs_into(const std::string& pool) {
  std::string out;
  sh("pgrep -af '^/usr/bin/rsync .*" + pool + "/' || true", &out);
  return out;
}

// The stack as it was: running (its Redis too), out of maintenance, its data and the post
// there, the user logged in before the adoption still logged in.
void expect_stack_serves_its_data(const Stack& s, int port, const std::string& tag, const std::string& sid, const std::string& ctx) {
  EXPECT_TRUE(engine().inspect_container(s.web)->running) << ctx;
  EXPECT_TRUE(engine().inspect_container(s.db)->running) << ctx;
  auto r = login_page(port, s.host);
  EXPECT_EQ(r.status, 200) << ctx << ": " << r.transport_error;
  EXPECT_NE(r.body.find("4.4.1"), std::string::npos) << ctx;
  EXPECT_EQ(read_file(s.moodledata_host + "/users-file.txt"), "kept") << ctx;
  EXPECT_FALSE(fs::exists(s.moodledata_host + "/" + core::kMaintenanceFile)) << ctx;
  EXPECT_EQ(posts_tagged(s.web, s.code_in, s.uid, tag), 1) << ctx;
  if (!s.redis.empty()) {
    EXPECT_TRUE(engine().inspect_container(s.redis)->running) << ctx;
    EXPECT_EQ(whoami(port, s.host, sid), "user: admin") << ctx << ": the stack's Redis lost its sessions";
  }
}

void expect_nothing_left(const Attempt& a, const std::string& ctx) {
  EXPECT_TRUE(engine().list_containers({{"mupgrade.site", a.site}}, true).empty()) << ctx;
  EXPECT_TRUE(engine().list_networks({{"mupgrade.site", a.site}}).empty()) << ctx;
  EXPECT_FALSE(fs::exists(a.pool + "/sets")) << ctx;
  EXPECT_FALSE(fs::exists(a.state)) << ctx;
  EXPECT_FALSE(fs::exists(a.config)) << ctx;
  EXPECT_EQ(rsyncs_into(a.pool), "") << ctx << ": rsync outlived the killed adopt";
}

// What adopt itself says after the kill (its dry run): the adoption was interrupted, and
// the two ways out.
void expect_named_recovery(const Attempt& a, const Stack& s, const std::string& ctx) {
  std::string out;
  EXPECT_EQ(run_binary(a.args(s) + " 2>&1", &out), 2) << ctx << ": " << out;
  EXPECT_NE(out.find("an adoption of " + a.site + " was interrupted"), std::string::npos) << ctx << ": " << out;
  EXPECT_NE(out.find("adopt --undo"), std::string::npos) << ctx << ": " << out;
  EXPECT_NE(out.find("--yes"), std::string::npos) << ctx << ": " << out;
}

struct Recovery {
  std::string undo, again;  // as `status` names them, "mupgrade ..." (empty: a test failure)
};

// What `status` says of the site the kill left without a config: exit 0 as for any interrupted
// operation, the step the kill landed in, and the two commands, exactly.
Recovery status_names(const Attempt& a, const Stack& s, const std::string& landed) {
  std::string out;
  EXPECT_EQ(run_binary(fmt::format("status --site {} --state-dir {} 2>&1", a.site, a.state), &out), 0) << landed << ": " << out;
  std::printf("status after the kill %s:\n%s", landed.c_str(), out.c_str());
  EXPECT_NE(out.find("site config      none yet (" + a.config + " is written at the end of 'mupgrade adopt')"), std::string::npos) << out;
  std::smatch m;
  if (!std::regex_search(out, m, std::regex("INTERRUPTED at step '([a-z-]+)': run '([^']+)' or '([^']+)'"))) {
    ADD_FAILURE() << landed << ": status names no recovery:\n" << out;
    return {};
  }
  EXPECT_EQ("in " + m[1].str(), landed) << out;
  Recovery r{m[2].str(), m[3].str()};
  EXPECT_EQ(r.undo, fmt::format("mupgrade adopt --undo --site {} --state-dir {}", a.site, a.state)) << out;
  EXPECT_EQ(r.again, "mupgrade " + a.args(s) + " --yes") << out;
  return r;
}

// Runs a command `status` named ("mupgrade ARGS") through the binary under test.
int run_named(const std::string& command, std::string* out) {
  const std::string prog = "mupgrade ";
  if (command.rfind(prog, 0) != 0) {
    ADD_FAILURE() << "not a mupgrade command: '" << command << "'";
    return -1;
  }
  return run_binary(command.substr(prog.size()) + " 2>&1", out);
}

class AdoptKillTest : public ::testing::TestWithParam<StackFamily> {};

TEST_P(AdoptKillTest, AKillDuringAdoptLeavesTheStackRecoverable) {
  const StackFamily& fam = GetParam();
  const int port = fam.port;
  bool alpine = fam.kind == StackKind::alpine;
  // The kill points each family is run at (see the top of the file).
  bool at_copy = !alpine, at_set = fam.kind != StackKind::moodlehq;
  StackVolumes volumes;
  Cleanup cleanup;
  std::string data = make_subvolume(cleanup, "stack");
  auto stack = make_stack(cleanup, volumes, fam, data);
  if (!alpine) {
    // Enough moodledata (about 2000 files) that the first copy is caught in the middle.
    size_t files = fill_moodledata(stack.moodledata_host, 160ull << 20, stack.uid);
    ASSERT_GT(files, 300u);
  }
  // A post written through the stack before the adoption: it must survive every kill.
  std::string tag = unique_name("post");
  auto w = http::get(fmt::format("http://127.0.0.1:{}/local/standin/write.php?tag={}", port, tag), stack.host, std::chrono::seconds(10));
  ASSERT_EQ(w.status, 200) << w.body;
  ASSERT_EQ(posts_tagged(stack.web, stack.code_in, stack.uid, tag), 1);
  // A user logged in on the stack (its session in the Alpine-like stack's Redis).
  std::string sid = alpine ? login(port, stack.host) : "";
  if (alpine) {
    ASSERT_EQ(whoami(port, stack.host, sid), "user: admin");
  }

  auto attempt = [&](const char* what) {
    Attempt a;
    a.site = unique_name(what);
    a.pool = test_pool() + "/" + a.site;
    a.state = scratch_dir() + "/" + a.site;
    a.config = a.state + "-site.yml";
    return a;
  };

  if (at_copy) {  // 1. In the first copy, the stack serving: the undo status names.
    Attempt a = attempt("kcopy");
    SiteCleanup sc{a.pool, a.state, a.site};
    Background proc(a.args(stack) + " --yes", a.state + "-adopt.log");
    ASSERT_TRUE(wait_until([&] { return a.begun("copy-live"); }, std::chrono::seconds(60))) << read_file(proc.log);
    // Into the copy: rsync has made the set's moodledata and is filling it.
    ASSERT_TRUE(wait_until([&] { return !rsyncs_into(a.pool).empty(); }, std::chrono::seconds(10))) << read_file(proc.log);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_TRUE(proc.kill9()) << read_file(proc.log);
    std::string landed = Campaign::landed_in(a.journal());
    EXPECT_EQ(landed, "in copy-live") << read_file(proc.log);
    EXPECT_FALSE(fs::exists(a.config)) << "killed before the site config was written";
    auto r = login_page(port, stack.host);
    EXPECT_EQ(r.status, 200) << "the stack stops serving only in the window";
    expect_named_recovery(a, stack, landed);
    Recovery named = status_names(a, stack, landed);
    std::string out;
    ASSERT_EQ(run_named(named.undo, &out), 0) << out;
    expect_stack_serves_its_data(stack, port, tag, sid, landed);
    expect_nothing_left(a, landed);
  }

  {  // 2. In the window, the stack's DB stopping when the kill lands: the undo status names.
    Attempt a = attempt("kwin");
    SiteCleanup sc{a.pool, a.state, a.site};
    Background proc(a.args(stack) + " --yes", a.state + "-adopt.log");
    // The web has stopped (and the Alpine-like stack's Redis, after its SAVE); adopt asks the
    // DB to stop next, which takes it 2 s.
    ASSERT_TRUE(wait_until([&] {
      return a.begun("stop-old-stack") && !engine().inspect_container(stack.web)->running &&
             (!alpine || !engine().inspect_container(stack.redis)->running);
    }, std::chrono::seconds(120))) << read_file(proc.log);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    ASSERT_TRUE(proc.kill9()) << read_file(proc.log);
    std::string landed = Campaign::landed_in(a.journal());
    EXPECT_EQ(landed, "in stop-old-stack") << read_file(proc.log);
    EXPECT_TRUE(engine().inspect_container(stack.db)->running) << "the kill was meant to land while the DB shuts down";
    EXPECT_TRUE(fs::exists(stack.moodledata_host + "/" + core::kMaintenanceFile)) << "the kill was meant to land in the window";
    if (alpine) {
      EXPECT_FALSE(engine().inspect_container(stack.redis)->running) << "the kill was meant to land after the Redis stopped";
    }
    expect_named_recovery(a, stack, landed);
    Recovery named = status_names(a, stack, landed);
    std::string out;
    ASSERT_EQ(run_named(named.undo, &out), 0) << out;
    expect_stack_serves_its_data(stack, port, tag, sid, landed);
    expect_nothing_left(a, landed);
  }

  if (at_set) {  // 3. The set started, the proxy being made: adopt again as status names it, then undo.
    Attempt a = attempt("kset");
    SiteCleanup sc{a.pool, a.state, a.site};
    Background proc(a.args(stack) + " --yes", a.state + "-adopt.log");
    ASSERT_TRUE(wait_until([&] { return a.begun("start-proxy"); }, std::chrono::seconds(120))) << read_file(proc.log);
    ASSERT_TRUE(proc.kill9()) << read_file(proc.log);
    std::string landed = Campaign::landed_in(a.journal());
    EXPECT_EQ(landed, "in start-proxy") << read_file(proc.log);
    expect_named_recovery(a, stack, landed);
    Recovery named = status_names(a, stack, landed);
    std::string out;
    ASSERT_EQ(run_named(named.again, &out), 0) << out;
    EXPECT_NE(out.find("undoing the adoption of " + a.site), std::string::npos) << out;
    auto state = core::load_site_state(a.state);
    ASSERT_TRUE(state);
    auto r = login_page(port, stack.host);
    EXPECT_EQ(r.status, 200) << r.transport_error;
    EXPECT_EQ(r.headers["x-mupgrade-set"], state->live_set);
    EXPECT_EQ(read_file(a.pool + "/sets/" + state->live_set + "/moodledata/users-file.txt"), "kept");
    auto webs = engine().list_containers({{"mupgrade.site", a.site}, {"mupgrade.role", "web"}});
    ASSERT_EQ(webs.size(), 1u);
    EXPECT_EQ(posts_tagged(webs[0].name, core::kContainerCodeRoot, 33, tag), 1) << "the post did not come through";
    if (alpine) {
      EXPECT_EQ(whoami(port, stack.host, sid), "user: admin") << "the session did not come through to the set's Redis";
    }
    // Only the adopted set's subvolumes: the killed attempt's set is gone.
    EXPECT_EQ(std::distance(fs::directory_iterator(a.pool + "/sets"), fs::directory_iterator{}), 1);
    // Adopted: status has the site's config now, and no adoption left to recover.
    ASSERT_EQ(run_binary(fmt::format("status --config {} 2>&1", a.config), &out), 0) << out;
    EXPECT_EQ(out.find("INTERRUPTED"), std::string::npos) << out;
    ASSERT_EQ(run_binary(fmt::format("adopt --undo --site {} --config {} 2>&1", a.site, a.config), &out), 0) << out;
    expect_stack_serves_its_data(stack, port, tag, sid, landed + ", adopted again, then undone");
    expect_nothing_left(a, landed);
  }
}

// Ports of this helper's range (18940-18959).
INSTANTIATE_TEST_SUITE_P(Families, AdoptKillTest,
                         ::testing::Values(StackFamily{"bitnami_mariadb_volumes", StackKind::bitnami, 18940, 2},
                                           StackFamily{"alpine_postgres_redis", StackKind::alpine, 18941, 2},
                                           StackFamily{"moodlehq_postgres_binds", StackKind::moodlehq, 18942, 2},
                                           StackFamily{"moodlehq_image_code", StackKind::moodlehq, 18943, 2, true}),
                         [](const auto& p) { return std::string(p.param.name); });

}  // namespace
