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

#include "chaos.hpp"

#include <random>

using namespace mupgrade;
using namespace mupgrade::itest;
using namespace mupgrade::itest::chaos;

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
    try {
    EXPECT_EQ(run_binary("status " + c.config(), &out), 0) << out;
    int discarded = 0;
    if (op == "cutover") EXPECT_EQ(run_binary("cutover --resume " + c.config(), &out), 0) << r.name << ": " << out;
    else if (op == "rehearse") EXPECT_EQ(run_binary("prune " + c.config(), &out), 0) << r.name << ": " << out;
    else {
      std::string first = read_file(proc.log);
      discarded = Campaign::discarded_count(first);
      // A rollback that ended before the kill left nothing to finish: a second one would find
      // no rollback target and fail, rightly.
      if (killed) {
        EXPECT_EQ(run_binary("rollback --discard-writes " + c.config(), &out), 0) << r.name << ": " << out;
        discarded = std::max(discarded, Campaign::discarded_count(out));
      }
      if (auto j = site.last_journal_path(); !j.empty()) {
        auto rerun_journal = core::read_journal(j);
        if (const auto* g = rerun_journal.find("write-guard"); g && g->facts.is_object() && g->facts.value("left_behind", json()).is_string())
          discarded = std::max(discarded, Campaign::discarded_count(" " + g->facts["left_behind"].get<std::string>()));
      }
    }
    c.check_end_state(r, fault_at, discarded);
    } catch (const std::exception& e) {
      ADD_FAILURE() << r.name << " (landed " << r.landed << "): " << e.what();
    }
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
        if (auto journal = core::read_journal(last); journal.find("upgrade") && journal.find("upgrade")->ended) failed_at = c.traffic().now();
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
