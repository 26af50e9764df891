// The fault campaign on real components: a site on the stand-in under a continuous read and
// write load through its proxy, with a writer that records every acknowledged write. Seeded
// kill -9 at random moments (not only step boundaries) of cutover, rehearse and rollback, then
// `status` and the recovery the tool names; and the named faults (a resume during a running
// cutover, the proxy stopped before and during the window, the live DB stopped, green's DB
// killed during upgrade.php). After each run: the site serves again, every acknowledged write
// is on the set that serves (or was counted by rollback's write guard and deliberately
// discarded), production's DB settings are as before, nothing is left behind.
//
// MUPGRADE_CHAOS_RUNS (default 6) random kills and MUPGRADE_CHAOS_SEED (default 1) choose the
// campaign; scripts/chaos runs more and MUPGRADE_CHAOS_SUMMARY=FILE gets the summary as JSON.

#include "fixtures.hpp"
#include "site_fixture.hpp"

#include "mupgrade/core/journal.hpp"
#include "mupgrade/db/durability.hpp"
#include "mupgrade/db/site_database.hpp"
#include "mupgrade/http/http_client.hpp"
#include "mupgrade/ops/operations.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <thread>

using namespace mupgrade;
using namespace mupgrade::itest;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// Users through the proxy: readers on the login page, one writer posting (each post tagged,
/// so an acknowledged write can be looked up later). Every answer is kept with its time.
class Traffic {
public:
  struct Answer {
    double at;  // seconds since start
    long status;
    std::string set;  // X-Mupgrade-Set
  };
  struct Write {
    std::string tag, set;
    double at;
  };

  Traffic(std::string url, std::string host, std::string tag_prefix)
      : url_(std::move(url)), host_(std::move(host)), prefix_(std::move(tag_prefix)), t0_(Clock::now()) {
    threads_.emplace_back([this] { read_loop(); });
    threads_.emplace_back([this] { read_loop(); });
    threads_.emplace_back([this] { write_loop(); });
  }
  ~Traffic() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  double now() const { return since(t0_); }
  std::vector<Write> acked() {
    std::lock_guard l(m_);
    return acked_;
  }
  std::vector<Answer> answers() {
    std::lock_guard l(m_);
    return answers_;
  }
  /// Transport errors and 5xx other than the maintenance page, since `from`.
  int failed_since(double from) {
    std::lock_guard l(m_);
    return static_cast<int>(std::count_if(answers_.begin(), answers_.end(), [&](const Answer& a) {
      return a.at >= from && (a.status == 0 || (a.status >= 500 && a.status != 503));
    }));
  }
  /// Seconds from `from` until the site answered 200 for good (every later read answered 200);
  /// negative when it never did.
  double serving_again_after(double from) {
    std::lock_guard l(m_);
    double last_bad = from;
    bool any_ok = false;
    for (const auto& a : answers_) {
      if (a.at < from) continue;
      if (a.status != 200) last_bad = a.at, any_ok = false;
      else any_ok = true;
    }
    return any_ok ? last_bad - from : -1;
  }

private:
  void read_loop() {
    while (!stop_) {
      auto r = http::get(url_ + "/login/index.php", host_, std::chrono::milliseconds(10000));
      record(r);
      std::this_thread::sleep_for(std::chrono::milliseconds(40));
    }
  }
  void write_loop() {
    for (long n = 0; !stop_; ++n) {
      std::string tag = fmt::format("{}-{}", prefix_, n);
      auto r = http::get(url_ + "/local/standin/write.php?tag=" + tag, host_, std::chrono::milliseconds(10000));
      auto a = record(r);
      if (r.status == 200 && r.body.rfind("ok ", 0) == 0) {
        std::lock_guard l(m_);
        acked_.push_back({tag, a.set, a.at});
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  Answer record(const http::Response& r) {
    Answer a{now(), r.status, r.headers.count("x-mupgrade-set") ? r.headers.at("x-mupgrade-set") : ""};
    std::lock_guard l(m_);
    answers_.push_back(a);
    return a;
  }

  std::string url_, host_, prefix_;
  Clock::time_point t0_;
  std::atomic<bool> stop_{false};
  std::mutex m_;
  std::vector<Answer> answers_;
  std::vector<Write> acked_;
  std::vector<std::thread> threads_;
};

/// The mupgrade binary running in the background (its output in a file), to be killed.
struct Background {
  pid_t pid = -1;
  std::string log;
  Background(const std::string& args, const std::string& log_file) : log(log_file) {
    pid = ::fork();
    if (pid == 0) {
      ::execl("/bin/sh", "sh", "-c", fmt::format("exec {} {} >'{}' 2>&1", MUPGRADE_BINARY, args, log_file).c_str(), nullptr);
      ::_exit(127);
    }
  }
  bool running() {
    if (pid < 0) return false;
    int st;
    pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      status_ = st;
      pid = -1;
      return false;
    }
    return true;
  }
  /// kill -9 now; true when the process was still running (the kill cut it short).
  bool kill9() {
    if (!running()) return false;
    ::kill(pid, SIGKILL);
    return wait() == 128 + SIGKILL;
  }
  /// Its exit code (128 + signal when killed).
  int wait() {
    if (pid >= 0) {
      ::waitpid(pid, &status_, 0);
      pid = -1;
    }
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
  }
  ~Background() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }

private:
  int status_ = 0;
};

/// One run of the campaign, as the summary table shows it.
struct RunRecord {
  std::string name, landed;
  bool recovered = false;
  double to_serving = 0;  // seconds from the fault until the site answered 200 for good
  int writes = 0, lost = 0, discarded = 0, failed_requests = 0;
};

class Campaign {
public:
  Campaign(LifecycleSite& ls, const std::string& tag) : ls_(ls), traffic_(ls.cfg.proxy.url, ls.cfg.public_host, tag) {
    blue_settings_ = production_settings();
  }
  ~Campaign() { traffic_.stop(); }

  LifecycleSite& site() { return ls_; }
  Traffic& traffic() { return traffic_; }
  std::string config() const { return "--config " + ls_.config_file; }

  /// What the freeze and durability steps may change on production's DB, as it is now.
  std::string production_settings() {
    auto ep = ls_.site->db_endpoint(ls_.blue);
    return db::durability_settings(ep) + " " + db::SqlDatabase().freezer(ep)->settings().dump();
  }

  /// The step a journal shows running (or last ended) when the process died.
  static std::string landed_in(const std::string& journal_path) {
    if (journal_path.empty()) return "(no journal)";
    auto j = core::read_journal(journal_path);
    if (j.finished) return "(finished: " + j.outcome + ")";
    if (auto s = j.interrupted_step()) return "in " + *s;
    return j.steps.empty() ? "before the first step" : "after " + j.steps.back().name;
  }

  /// Tags present in a set's forum posts.
  std::set<std::string> tags_on(const std::string& set) {
    std::set<std::string> tags;
    auto c = db::connect(ls_.site->db_endpoint(set));
    for (auto& row : c->query("SELECT subject FROM mdl_forum_posts")) if (row[0]) tags.insert(*row[0]);
    return tags;
  }

  /// The checks every run ends with. `discarded` is what rollback's write guard reported and
  /// was told to discard in this run.
  void check_end_state(RunRecord& r, double fault_at, int discarded_allowed) {
    std::string out;
    EXPECT_EQ(run_binary("status " + config(), &out), 0) << r.name << ": " << out;
    auto st = ops::status(*ls_.site);
    EXPECT_FALSE(st.lock) << r.name << ": the lock is still held";
    if (st.last_operation) {
      EXPECT_TRUE(st.last_operation->finished) << r.name << ": " << out;
    }
    EXPECT_FALSE(st.serving.empty()) << r.name << ": the public URL is served by no set: " << st.public_answer;
    EXPECT_EQ(st.serving, st.live_set) << r.name;
    // Let the load see the serving set for a moment, then judge.
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    r.to_serving = traffic_.serving_again_after(fault_at);
    r.recovered = r.to_serving >= 0 && !st.serving.empty() && st.serving == st.live_set;
    EXPECT_GE(r.to_serving, 0) << r.name << ": the site never answered 200 for good after the fault";
    EXPECT_LE(r.to_serving, 60) << r.name;
    r.failed_requests = traffic_.failed_since(fault_at);

    // Writes: every write acknowledged by the serving set, or by blue while green was still
    // to be made from it, must be on the serving set; green's writes missing from blue after a
    // rollback must have been counted by the write guard.
    std::string serving = st.serving;
    if (serving.empty()) return;
    auto present = tags_on(serving);
    int lost = 0, dropped = 0;
    for (const auto& w : traffic_.acked()) {
      if (discarded_.count(w.tag)) continue;
      bool must = w.set == serving || (w.set == ls_.blue && serving != ls_.blue);
      if (!present.count(w.tag)) {
        if (must) {
          ++lost;
          ADD_FAILURE() << r.name << ": acknowledged write " << w.tag << " (by " << w.set << ") is not on " << serving;
        } else {
          ++dropped;
          discarded_.insert(w.tag);
        }
      }
    }
    r.writes = static_cast<int>(traffic_.acked().size());
    r.lost = lost;
    r.discarded = dropped;
    EXPECT_LE(dropped, discarded_allowed) << r.name << ": writes left behind on green beyond what the write guard reported";

    EXPECT_EQ(production_settings(), blue_settings_) << r.name << ": production's DB settings changed";
    check_no_leftovers(r.name, st);
  }

  /// Only sets with a dir hold containers; only the live set, the rollback target and the
  /// proxy run; no clone, no throwaway container, no stray subvolume.
  void check_no_leftovers(const std::string& run, const ops::StatusReport& st) {
    auto& cfg = ls_.cfg;
    for (const auto& c : engine().list_containers({{"mupgrade.site", cfg.site}})) {
      if (c.name == cfg.proxy.container) continue;
      std::string set = c.labels.count("mupgrade.set") ? c.labels.at("mupgrade.set") : "";
      EXPECT_TRUE(!set.empty() && fs::is_directory(cfg.sets_dir() + "/" + set)) << run << ": leftover container " << c.name;
      EXPECT_FALSE(core::is_clone(set)) << run << ": leftover clone container " << c.name;
      if (c.running) {
        EXPECT_TRUE(set == st.live_set || set == st.rollback_set) << run << ": " << c.name << " runs";
      }
    }
    std::string out;
    sh("cd '" + cfg.pool + "' && find . -mindepth 1 -inum 256 -type d | sort", &out);
    std::istringstream lines(out);
    for (std::string p; std::getline(lines, p);) {
      bool set_part = p.rfind("./sets/", 0) == 0 && std::count(p.begin(), p.end(), '/') == 3 &&
                      (p.ends_with("/db") || p.ends_with("/moodledata") || p.ends_with("/code"));
      bool release = p.rfind("./releases/", 0) == 0 && std::count(p.begin(), p.end(), '/') == 2;
      EXPECT_TRUE(set_part || release) << run << ": leftover subvolume " << p;
    }
    if (fs::is_directory(cfg.clones_dir()))
      for (const auto& e : fs::directory_iterator(cfg.clones_dir())) ADD_FAILURE() << run << ": leftover clone " << e.path();
  }

  /// Back to blue serving (discarding green's writes: counted by the guard), for the next run.
  void back_to_blue(const std::string& run) {
    auto st = ls_.site->state();
    if (!st || st->live_set == ls_.blue) return;
    std::string out;
    ASSERT_EQ(run_binary("rollback --discard-writes " + config(), &out), 0) << run << ": " << out;
    RunRecord r{run + " (back to blue)"};
    check_end_state(r, traffic_.now(), discarded_count(out));
  }

  /// What a rollback said it leaves behind ("N new rows in mdl_forum_posts").
  /// The last count a rollback reported (a later count, with green in maintenance, includes
  /// the first).
  static int discarded_count(const std::string& out) {
    int n = 0;
    for (auto at = out.find(" new rows in mdl_forum_posts"); at != std::string::npos; at = out.find(" new rows in mdl_forum_posts", at + 1)) {
      auto start = out.rfind(' ', at - 1);
      n = std::atoi(out.substr(start + 1, at - start - 1).c_str());
    }
    return n;
  }

  std::vector<RunRecord> records;

private:
  LifecycleSite& ls_;
  Traffic traffic_;
  std::string blue_settings_;
  std::set<std::string> discarded_;
};

std::string summary_table(const std::vector<RunRecord>& rs) {
  std::string t = fmt::format("{:<34} {:<30} {:>9} {:>10} {:>6} {:>5} {:>9} {:>7}\n", "run", "kill landed", "recovered", "serving s",
                              "writes", "lost", "discarded", "failed");
  for (const auto& r : rs)
    t += fmt::format("{:<34} {:<30} {:>9} {:>10.2f} {:>6} {:>5} {:>9} {:>7}\n", r.name, r.landed.substr(0, 30), r.recovered ? "yes" : "NO",
                     r.to_serving, r.writes, r.lost, r.discarded, r.failed_requests);
  int recovered = static_cast<int>(std::count_if(rs.begin(), rs.end(), [](auto& r) { return r.recovered; }));
  std::vector<double> s;
  int lost = 0;
  for (const auto& r : rs) s.push_back(r.to_serving), lost += r.lost;
  std::sort(s.begin(), s.end());
  t += fmt::format("runs {}, recovered {}, seconds to serving: median {:.2f} max {:.2f}, acknowledged writes lost {}\n", rs.size(), recovered,
                   s.empty() ? 0.0 : s[s.size() / 2], s.empty() ? 0.0 : s.back(), lost);
  return t;
}

void write_summary(const std::vector<RunRecord>& rs, int seed) {
  std::printf("\n%s", summary_table(rs).c_str());
  if (const char* file = std::getenv("MUPGRADE_CHAOS_SUMMARY"); file && *file) {
    json j = json::array();
    for (const auto& r : rs)
      j.push_back({{"run", r.name}, {"landed", r.landed}, {"recovered", r.recovered}, {"seconds_to_serving", r.to_serving},
                   {"writes", r.writes}, {"lost", r.lost}, {"discarded", r.discarded}, {"failed_requests", r.failed_requests}});
    std::ofstream(file) << json{{"seed", seed}, {"runs", j}}.dump(2) << "\n";
  }
}

// Waits until the running operation's journal shows `step` begun (false after `timeout`).
bool wait_for_step(ops::Site& site, const std::string& journal_before, const std::string& step, std::chrono::seconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    std::string last = site.last_journal_path();
    if (!last.empty() && last != journal_before && fs::exists(last)) {
      auto j = core::read_journal(last);
      if (j.find(step)) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace

// kill -9 at seeded random moments of cutover, rehearse and rollback under load.
TEST(ChaosTest, RandomKillsUnderLoadAreRecovered) {
  int runs = env_int("MUPGRADE_CHAOS_RUNS", 6);
  int seed = env_int("MUPGRADE_CHAOS_SEED", 1);
  std::mt19937 rng(static_cast<unsigned>(seed));
  SiteCleanup cleanup;
  auto ls = make_site(cleanup, db::Kind::mariadb, 18650);
  Campaign c(*ls, "w");
  auto& site = *ls->site;

  // How long each operation takes here when nothing is killed: the range kills are drawn from.
  std::map<std::string, double> takes;
  for (const char* op : {"rehearse", "cutover", "rollback --discard-writes"}) {
    double t0 = c.traffic().now();
    std::string out;
    ASSERT_EQ(run_binary(std::string(op) + " " + c.config(), &out), 0) << out;
    takes[op] = c.traffic().now() - t0;
    std::printf("calibration: %s takes %.1f s\n", op, takes[op]);
    RunRecord r{std::string("calibration: ") + op};
    c.check_end_state(r, t0, Campaign::discarded_count(out));
  }

  const char* ops_[] = {"cutover", "rehearse", "rollback --discard-writes"};
  for (int i = 0; i < runs; ++i) {
    std::string op = ops_[i % 3];
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // set ids have one-second resolution
    if (op.starts_with("rollback")) {  // a rollback needs green live first
      std::string out;
      ASSERT_EQ(run_binary("cutover " + c.config(), &out), 0) << out;
    }
    double delay = std::uniform_real_distribution<double>(0.05, takes[op] * 0.95)(rng);
    RunRecord r{fmt::format("#{} kill {} at {:.2f}s", i + 1, op.substr(0, op.find(' ')), delay)};
    std::string journal_before = site.last_journal_path();
    Background proc(op + " " + c.config(), scratch_dir() + fmt::format("/chaos-{}.log", i));
    std::this_thread::sleep_for(std::chrono::duration<double>(delay));
    double fault_at = c.traffic().now();
    bool killed = proc.kill9();
    std::string journal = op == "rehearse" ? site.last_journal_path("last-rehearse") : site.last_journal_path();
    r.landed = killed ? Campaign::landed_in(journal == journal_before ? "" : journal) : "(finished before the kill)";
    if (!killed) {
      EXPECT_EQ(proc.wait(), 0) << read_file(proc.log);
    }

    // Recovery as `status` names it: resume a cutover, rerun a rollback, prune after a rehearsal.
    std::string out;
    EXPECT_EQ(run_binary("status " + c.config(), &out), 0) << out;
    int discarded = 0;
    if (op == "cutover") EXPECT_EQ(run_binary("cutover --resume " + c.config(), &out), 0) << r.name << ": " << out;
    else if (op == "rehearse") EXPECT_EQ(run_binary("prune " + c.config(), &out), 0) << r.name << ": " << out;
    else {
      std::string first = read_file(proc.log);
      EXPECT_EQ(run_binary("rollback --discard-writes " + c.config(), &out), 0) << r.name << ": " << out;
      discarded = std::max(Campaign::discarded_count(first), Campaign::discarded_count(out));
      if (auto j = site.last_journal_path(); !j.empty())
        if (const auto* g = core::read_journal(j).find("write-guard"); g && g->facts.contains("left_behind"))
          discarded = std::max(discarded, Campaign::discarded_count(" " + g->facts["left_behind"].get<std::string>()));
    }
    c.check_end_state(r, fault_at, discarded);
    c.records.push_back(r);
    c.back_to_blue(r.name);
  }
  write_summary(c.records, seed);
}

// The named faults, each asserting it happened where it meant to.
TEST(ChaosTest, NamedFaultsAreRecovered) {
  SiteCleanup cleanup;
  auto ls = make_site(cleanup, db::Kind::mariadb, 18660);
  Campaign c(*ls, "n");
  auto& site = *ls->site;
  auto& cfg = ls->cfg;
  std::string out;
  auto count_journals = [&] {
    std::error_code ec;
    auto it = fs::directory_iterator(cfg.state_dir + "/journal", ec);
    return ec ? 0 : std::distance(it, fs::directory_iterator{});
  };
  auto sets = [&] {
    std::set<std::string> s;
    for (const auto& e : fs::directory_iterator(cfg.sets_dir())) s.insert(e.path().filename());
    return s;
  };

  {  // A resume started while a cutover runs is refused by the lock; the cutover goes on.
    RunRecord r{"resume during a running cutover"};
    std::string before = site.last_journal_path();
    Background proc("cutover " + c.config(), scratch_dir() + "/named-resume.log");
    ASSERT_TRUE(wait_for_step(site, before, "upgrade", std::chrono::seconds(60))) << read_file(proc.log);
    r.landed = "in upgrade";
    double at = c.traffic().now();
    EXPECT_EQ(run_binary("cutover --resume " + c.config(), &out), 3) << out;
    EXPECT_NE(out.find("is busy: 'mupgrade cutover'"), std::string::npos) << out;
    EXPECT_EQ(proc.wait(), 0) << read_file(proc.log);
    c.check_end_state(r, at, 0);
    EXPECT_NE(ops::status(site).live_set, ls->blue) << "the cutover finished under the refused resume";
    c.records.push_back(r);
    c.back_to_blue(r.name);
  }
  {  // The proxy stopped before: refused before any change.
    RunRecord r{"proxy stopped before cutover"};
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    auto sets_before = sets();
    auto journals_before = count_journals();
    engine().stop_container(cfg.proxy.container, std::chrono::seconds(5));
    double at = c.traffic().now();
    EXPECT_EQ(run_binary("cutover " + c.config(), &out), 1) << out;
    r.landed = "preflight";
    EXPECT_NE(out.find("mupgrade: error:"), std::string::npos) << out;
    EXPECT_EQ(sets(), sets_before) << "a refused cutover made a set";
    EXPECT_EQ(count_journals(), journals_before) << "a refused cutover began a journal";
    engine().start_container(cfg.proxy.container);
    c.check_end_state(r, at, 0);
    c.records.push_back(r);
  }
  {  // The live DB stopped before: refused before any change.
    RunRecord r{"live DB stopped before cutover"};
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    auto sets_before = sets();
    auto journals_before = count_journals();
    engine().stop_container(site.db_container(ls->blue), std::chrono::seconds(30));
    double at = c.traffic().now();
    EXPECT_EQ(run_binary("cutover " + c.config(), &out), 1) << out;
    r.landed = "preflight";
    EXPECT_NE(out.find("mupgrade: error:"), std::string::npos) << out;
    EXPECT_EQ(sets(), sets_before);
    EXPECT_EQ(count_journals(), journals_before);
    engine().start_container(site.db_container(ls->blue));
    site.ports().db.wait_ready(site.db_endpoint(ls->blue), std::chrono::seconds(60));
    c.check_end_state(r, at, 0);
    c.records.push_back(r);
  }
  {  // Green's DB killed during upgrade.php: the cutover fails there and blue serves again.
    RunRecord r{"green DB killed in upgrade"};
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    std::string before = site.last_journal_path();
    Background proc("cutover " + c.config(), scratch_dir() + "/named-greendb.log");
    ASSERT_TRUE(wait_for_step(site, before, "upgrade", std::chrono::seconds(60))) << read_file(proc.log);
    auto j = core::read_journal(site.last_journal_path());
    std::string green = j.args.value("green", "");
    ASSERT_FALSE(green.empty());
    double at = c.traffic().now();
    engine().kill_container(site.db_container(green), "SIGKILL");
    EXPECT_EQ(proc.wait(), 1) << read_file(proc.log);
    std::string log = read_file(proc.log);
    EXPECT_NE(log.find("failed at step 'upgrade'"), std::string::npos) << "the fault must hit upgrade.php: " << log;
    EXPECT_NE(log.find("serves again (seen through the public URL)"), std::string::npos) << log;
    r.landed = "in upgrade";
    c.check_end_state(r, at, 0);
    c.records.push_back(r);
  }
  {  // The proxy stopped during the window: the cutover fails, and its undo brings the proxy back.
    RunRecord r{"proxy stopped in upgrade"};
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    std::string before = site.last_journal_path();
    Background proc("cutover " + c.config(), scratch_dir() + "/named-proxy.log");
    ASSERT_TRUE(wait_for_step(site, before, "upgrade", std::chrono::seconds(60))) << read_file(proc.log);
    double at = c.traffic().now();
    engine().stop_container(cfg.proxy.container, std::chrono::seconds(5));
    int rc = proc.wait();
    std::string log = read_file(proc.log);
    EXPECT_EQ(rc, 1) << log;
    r.landed = "in upgrade";
    EXPECT_NE(log.find("serves again (seen through the public URL)"), std::string::npos) << log;
    c.check_end_state(r, at, 0);
    c.records.push_back(r);
  }
  {  // Green's web ignores SIGTERM (stopping it takes the whole grace period) and the upgrade
     // fails: blue must serve again within 2 s of the failure, before green is stopped.
    RunRecord r{"upgrade fails, green ignores SIGTERM"};
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    std::string image = unique_name("noterm") + ":1";
    struct ImageCleanup {
      std::string tag;
      ~ImageCleanup() { sh("docker rmi -f '" + tag + "' >/dev/null"); }
    } image_cleanup{image};
    ASSERT_EQ(sh("printf 'FROM " + cfg.web_image + "\\nSTOPSIGNAL SIGTERM\\nENTRYPOINT [\"/bin/sh\", \"-c\", \"trap \\047\\047 TERM; /usr/local/bin/moodle-web-entrypoint & wait\"]\\n' | docker build -q -t '" +
                 image + "' -", &out),
              0)
        << out;
    {
      std::string text = read_file(ls->config_file);
      auto at = text.find("target:\n");
      ASSERT_NE(at, std::string::npos);
      text.insert(at + 8, "  image: " + image + "\n");
      std::ofstream(ls->config_file) << text;
    }
    std::string failing = ls->release("4.5.0", {"fail_at=mod_quiz"});
    std::string before = site.last_journal_path();
    Background proc("cutover --target " + failing + " " + c.config(), scratch_dir() + "/named-noterm.log");
    // The moment upgrade.php's failure is journaled.
    double failed_at = -1;
    for (auto deadline = Clock::now() + std::chrono::seconds(90); Clock::now() < deadline && failed_at < 0;) {
      std::string last = site.last_journal_path();
      if (!last.empty() && last != before && fs::exists(last))
        if (const auto* u = core::read_journal(last).find("upgrade"); u && u->ended) failed_at = c.traffic().now();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_GE(failed_at, 0) << read_file(proc.log);
    double serving = -1;
    while (proc.running() && serving < 0) {
      serving = c.traffic().serving_again_after(failed_at);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_GE(serving, 0) << "blue served again only after the cutover ended (green's stop held it up)";
    EXPECT_LE(serving, 2.0) << "seconds from the failure to blue serving";
    EXPECT_EQ(proc.wait(), 1) << read_file(proc.log);
    std::string log = read_file(proc.log);
    EXPECT_NE(log.find("failed at step 'upgrade'"), std::string::npos) << log;
    r.landed = "in upgrade";
    c.check_end_state(r, failed_at, 0);
    r.to_serving = serving;
    c.records.push_back(r);
  }
  write_summary(c.records, 0);
}
