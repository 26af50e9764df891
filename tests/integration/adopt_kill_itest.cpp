// kill -9 of `mupgrade adopt --from ... --yes` on real Docker, btrfs, MariaDB and HAProxy: a
// Bitnami-like stack (support/adopt_stack.hpp) with some moodledata, a forum post written
// through it, then the binary killed at three points, each asserted from the journal:
//  1. in copy-live, mid-rsync, while the stack serves;
//  2. in stop-old-stack, in the window: the stack in maintenance, its web stopped, its DB
//     stopping (it takes 2 s to shut down, as a busy one does) when the kill lands;
//  3. in start-proxy: the set started, the proxy being made on the stack's port.
// Then the recovery adopt names (its dry run after the kill: 'adopt --undo', or adopt again
// with --yes): the original stack serves its data again, or the adopted set serves it with
// nothing lost; no container, network, subvolume, state, config or rsync is left.

#include "adopt_stack.hpp"
#include "chaos.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

using namespace mupgrade;
using namespace mupgrade::itest;
using chaos::Background;
using chaos::Campaign;
namespace fs = std::filesystem;

namespace {

constexpr int kPort = 18840;

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
      const auto* r = core::read_journal(j).find(step);
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

void expect_stack_serves_its_data(const Stack& s, const std::string& tag, const std::string& ctx) {
  EXPECT_TRUE(engine().inspect_container(s.web)->running) << ctx;
  EXPECT_TRUE(engine().inspect_container(s.db)->running) << ctx;
  auto r = login_page(kPort, s.host);
  EXPECT_EQ(r.status, 200) << ctx << ": " << r.transport_error;
  EXPECT_NE(r.body.find("4.4.1"), std::string::npos) << ctx;
  EXPECT_EQ(read_file(s.moodledata_host + "/users-file.txt"), "kept") << ctx;
  EXPECT_FALSE(fs::exists(s.moodledata_host + "/" + core::kMaintenanceFile)) << ctx;
  EXPECT_EQ(posts_tagged(s.web, s.code_in, s.uid, tag), 1) << ctx;
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

TEST(AdoptKillTest, AKillDuringAdoptLeavesTheStackRecoverable) {
  StackVolumes volumes;
  Cleanup cleanup;
  std::string data = make_subvolume(cleanup, "stack");
  StackFamily fam{"bitnami_mariadb_volumes", true, kPort, 2};
  auto stack = make_stack(cleanup, volumes, fam, data);
  // Enough moodledata (about 2000 files) that the first copy is caught in the middle.
  size_t files = fill_moodledata(stack.moodledata_host, 160ull << 20, stack.uid);
  ASSERT_GT(files, 300u);
  // A post written through the stack before the adoption: it must survive every kill.
  std::string tag = unique_name("post");
  auto w = http::get(fmt::format("http://127.0.0.1:{}/local/standin/write.php?tag={}", kPort, tag), stack.host, std::chrono::seconds(10));
  ASSERT_EQ(w.status, 200) << w.body;
  ASSERT_EQ(posts_tagged(stack.web, stack.code_in, stack.uid, tag), 1);

  auto attempt = [&](const char* what) {
    Attempt a;
    a.site = unique_name(what);
    a.pool = test_pool() + "/" + a.site;
    a.state = scratch_dir() + "/" + a.site;
    a.config = a.state + "-site.yml";
    return a;
  };

  {  // 1. In the first copy, the stack serving: adopt --undo.
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
    auto r = login_page(kPort, stack.host);
    EXPECT_EQ(r.status, 200) << "the stack stops serving only in the window";
    expect_named_recovery(a, stack, landed);
    std::string out;
    ASSERT_EQ(run_binary(fmt::format("adopt --undo --site {} --state-dir {} --config {} 2>&1", a.site, a.state, a.config), &out), 0) << out;
    expect_stack_serves_its_data(stack, tag, landed);
    expect_nothing_left(a, landed);
  }

  {  // 2. In the window, the stack's DB stopping when the kill lands: adopt --undo.
    Attempt a = attempt("kwin");
    SiteCleanup sc{a.pool, a.state, a.site};
    Background proc(a.args(stack) + " --yes", a.state + "-adopt.log");
    ASSERT_TRUE(wait_until([&] { return a.begun("stop-old-stack") && !engine().inspect_container(stack.web)->running; }, std::chrono::seconds(120)))
        << read_file(proc.log);
    // The web has stopped; adopt asks the DB to stop next, which takes it 2 s.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    ASSERT_TRUE(proc.kill9()) << read_file(proc.log);
    std::string landed = Campaign::landed_in(a.journal());
    EXPECT_EQ(landed, "in stop-old-stack") << read_file(proc.log);
    EXPECT_TRUE(engine().inspect_container(stack.db)->running) << "the kill was meant to land while the DB shuts down";
    EXPECT_TRUE(fs::exists(stack.moodledata_host + "/" + core::kMaintenanceFile)) << "the kill was meant to land in the window";
    expect_named_recovery(a, stack, landed);
    std::string out;
    ASSERT_EQ(run_binary(fmt::format("adopt --undo --site {} --state-dir {} --config {} 2>&1", a.site, a.state, a.config), &out), 0) << out;
    expect_stack_serves_its_data(stack, tag, landed);
    expect_nothing_left(a, landed);
  }

  {  // 3. The set started, the proxy being made: adopt again, then undo.
    Attempt a = attempt("kset");
    SiteCleanup sc{a.pool, a.state, a.site};
    Background proc(a.args(stack) + " --yes", a.state + "-adopt.log");
    ASSERT_TRUE(wait_until([&] { return a.begun("start-proxy"); }, std::chrono::seconds(120))) << read_file(proc.log);
    ASSERT_TRUE(proc.kill9()) << read_file(proc.log);
    std::string landed = Campaign::landed_in(a.journal());
    EXPECT_EQ(landed, "in start-proxy") << read_file(proc.log);
    expect_named_recovery(a, stack, landed);
    std::string out;
    ASSERT_EQ(run_binary(a.args(stack) + " --yes 2>&1", &out), 0) << out;
    EXPECT_NE(out.find("undoing the adoption of " + a.site), std::string::npos) << out;
    auto state = core::load_site_state(a.state);
    ASSERT_TRUE(state);
    auto r = login_page(kPort, stack.host);
    EXPECT_EQ(r.status, 200) << r.transport_error;
    EXPECT_EQ(r.headers["x-mupgrade-set"], state->live_set);
    EXPECT_EQ(read_file(a.pool + "/sets/" + state->live_set + "/moodledata/users-file.txt"), "kept");
    auto webs = engine().list_containers({{"mupgrade.site", a.site}, {"mupgrade.role", "web"}});
    ASSERT_EQ(webs.size(), 1u);
    EXPECT_EQ(posts_tagged(webs[0].name, core::kContainerCodeRoot, 33, tag), 1) << "the post did not come through";
    // Only the adopted set's subvolumes: the killed attempt's set is gone.
    EXPECT_EQ(std::distance(fs::directory_iterator(a.pool + "/sets"), fs::directory_iterator{}), 1);
    ASSERT_EQ(run_binary(fmt::format("adopt --undo --site {} --config {} 2>&1", a.site, a.config), &out), 0) << out;
    expect_stack_serves_its_data(stack, tag, landed + ", adopted again, then undone");
    expect_nothing_left(a, landed);
  }
}

}  // namespace
