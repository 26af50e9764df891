#pragma once
// The fault campaign's parts (tests/integration/chaos_itest.cpp, chaos_dockerd.cpp): a load
// through the site's proxy that records every acknowledged write, the mupgrade binary in the
// background to be killed, and the checks every run ends with.

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
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

namespace mupgrade::itest::chaos {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

inline int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

inline double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

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
    std::string sent_utc, acked_utc;  // as journals write times: a failure lines them up with the steps
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
      std::string sent = core::utc_now_iso();
      auto r = http::get(url_ + "/local/standin/write.php?tag=" + tag, host_, std::chrono::milliseconds(10000));
      auto a = record(r);
      if (r.status == 200 && r.body.rfind("ok ", 0) == 0) {
        std::lock_guard l(m_);
        acked_.push_back({tag, a.set, a.at, sent, core::utc_now_iso()});
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
    // A reader may still be waiting out a request sent while nothing answered (10 s timeout).
    for (int i = 0; i < 150 && traffic_.serving_again_after(fault_at) < 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
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
    std::string dropped_list;
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
          dropped_list += fmt::format("  {} by {}: sent {}, acknowledged {}\n", w.tag, w.set, w.sent_utc, w.acked_utc);
        }
      }
    }
    r.writes = static_cast<int>(traffic_.acked().size());
    r.lost = lost;
    r.discarded = dropped;
    EXPECT_LE(dropped, discarded_allowed) << r.name << ": writes left behind on green beyond what the write guard reported:\n"
                                          << dropped_list << "the last journals:\n" << recent_journals(2);

    EXPECT_EQ(production_settings(), blue_settings_) << r.name << ": production's DB settings changed";
    check_no_leftovers(r.name, st);
  }

  /// The events of the site's newest journals, oldest first: what ran when, to line up with
  /// the writes a failure lists.
  std::string recent_journals(size_t n) {
    std::vector<fs::path> paths;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(ls_.cfg.state_dir + "/journal", ec))
      if (e.path().extension() == ".jsonl") paths.push_back(e.path());
    std::sort(paths.begin(), paths.end());
    std::string out;
    for (size_t i = paths.size() > n ? paths.size() - n : 0; i < paths.size(); ++i) {
      out += paths[i].filename().string() + ":\n";
      std::ifstream in(paths[i]);
      for (std::string line; std::getline(in, line);) {
        auto j = json::parse(line, nullptr, false);
        if (j.is_discarded()) continue;
        out += fmt::format("  {} {} {} {} {}\n", j.value("at", ""), j.value("event", ""), j.value("step", ""), j.value("outcome", ""),
                           j.contains("facts") ? j["facts"].dump().substr(0, 200) : "");
      }
    }
    return out;
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
      // A set's OPcache file cache (seed-opcache) belongs with the set's code; the one cache a
      // rehearsal kept (keep-opcache) sits in <pool>/opcache.
      bool set_opcache = p.rfind("./sets/", 0) == 0 && std::count(p.begin(), p.end(), '/') == 3 && p.ends_with("/opcache") &&
                         fs::is_directory(cfg.pool + "/" + p.substr(2, p.size() - 2 - 8) + "/code");
      bool kept_opcache = p.rfind("./opcache/", 0) == 0 && std::count(p.begin(), p.end(), '/') == 2;
      EXPECT_TRUE(set_part || release || set_opcache || kept_opcache) << run << ": leftover subvolume " << p;
    }
    if (fs::is_directory(cfg.opcache_dir())) {
      EXPECT_LE(std::distance(fs::directory_iterator(cfg.opcache_dir()), fs::directory_iterator()), 1) << run << ": more than one kept OPcache cache";
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

inline std::string summary_table(const std::vector<RunRecord>& rs) {
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

inline void write_summary(const std::vector<RunRecord>& rs, int seed) {
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
inline bool wait_for_step(ops::Site& site, const std::string& journal_before, const std::string& step, std::chrono::seconds timeout) {
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

}  // namespace mupgrade::itest::chaos
