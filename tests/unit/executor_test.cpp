#include "mupgrade/core/executor.hpp"

#include "mupgrade/core/atomic_file.hpp"
#include "mupgrade/core/error.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

using namespace mupgrade::core;
namespace fs = std::filesystem;

namespace {

// A recording plan: every step and undo appends to `log`; `fail_at` makes one step throw.
struct Recorder {
  std::vector<std::string> log;
  std::string fail_at;
  std::string undo_fail_at;

  Step step(const std::string& name, Phase phase, bool undoable = true, bool no_return = false) {
    Step s;
    s.name = name;
    s.phase = phase;
    s.run = [this, name](StepRun&) -> nlohmann::json {
      log.push_back("run " + name);
      if (name == fail_at) throw std::runtime_error(name + " broke");
      return {{"step", name}};
    };
    if (undoable)
      s.undo = [this, name](const nlohmann::json&) {
        log.push_back("undo " + name);
        if (name == undo_fail_at) throw std::runtime_error("undo of " + name + " broke");
      };
    s.point_of_no_return = no_return;
    return s;
  }

  std::vector<Step> cutover_like() {
    return {step("drain-cron", Phase::prepare), step("maintenance-on", Phase::window),
            step("snapshot", Phase::window), step("upgrade", Phase::window, false),
            step("switch-proxy", Phase::window, true, true), step("maintenance-off", Phase::window, false)};
  }
};

struct ExecutorTest : ::testing::Test {
  std::string path = (fs::temp_directory_path() / ("mupgrade-unit-exec-" + std::to_string(::getpid()))).string();
  double now = 0;
  void SetUp() override { fs::remove(path); }
  void TearDown() override { fs::remove(path); }
  Executor make(JournalWriter& j) {
    return Executor(j, [this] { return now += 0.5; });
  }
};

}  // namespace

TEST_F(ExecutorTest, RunsEveryStepInOrderAndJournalsThem) {
  Recorder r;
  JournalWriter j(path);
  auto result = make(j).run("cutover", {{"target", "x"}}, r.cutover_like());
  EXPECT_TRUE(result.ok);
  EXPECT_EQ(r.log, (std::vector<std::string>{"run drain-cron", "run maintenance-on", "run snapshot", "run upgrade",
                                             "run switch-proxy", "run maintenance-off"}));
  ASSERT_EQ(result.timings.size(), 6u);
  EXPECT_DOUBLE_EQ(result.timings[0].seconds, 0.5);
  EXPECT_GT(result.window_seconds, 0);
  auto s = read_journal(path);
  EXPECT_TRUE(s.finished);
  EXPECT_EQ(s.outcome, "ok");
  EXPECT_EQ(s.find("snapshot")->facts["step"], "snapshot");
}

// A failure at each step before the point of no return undoes everything done, newest first,
// the failed step included (it may have half-happened).
TEST_F(ExecutorTest, AFailureBeforeTheSwitchUndoesInReverseAtEveryStep) {
  std::vector<std::string> names = {"drain-cron", "maintenance-on", "snapshot", "upgrade", "switch-proxy"};
  for (size_t i = 0; i < names.size(); ++i) {
    fs::remove(path);
    Recorder r;
    r.fail_at = names[i];
    JournalWriter j(path);
    auto result = make(j).run("cutover", {}, r.cutover_like());
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.failed_step, names[i]);
    std::vector<std::string> expected;
    for (size_t k = 0; k <= i; ++k) expected.push_back("run " + names[k]);
    for (size_t k = i + 1; k-- > 0;)
      if (names[k] != "upgrade") expected.push_back("undo " + names[k]);
    EXPECT_EQ(r.log, expected) << "failing at " << names[i];
    auto s = read_journal(path);
    EXPECT_EQ(s.outcome, "failed");
    EXPECT_FALSE(s.interrupted_step());
  }
}

TEST_F(ExecutorTest, AFailureAfterThePointOfNoReturnIsReportedNotUndone) {
  Recorder r;
  r.fail_at = "maintenance-off";
  JournalWriter j(path);
  auto result = make(j).run("cutover", {}, r.cutover_like());
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.failed_step, "maintenance-off");
  EXPECT_EQ(std::count_if(r.log.begin(), r.log.end(), [](auto& l) { return l.rfind("undo", 0) == 0; }), 0);
}

// A check of what the switch made live fails: everything is undone, the switch included,
// while a later step past the point of no return still undoes nothing.
TEST_F(ExecutorTest, AFailedCheckOfTheSwitchUndoesTheSwitchToo) {
  Recorder r;
  auto steps = r.cutover_like();
  Step check = r.step("first-page", Phase::after, false);
  check.verifies_switch = true;
  steps.insert(steps.begin() + 5, check);
  r.fail_at = "first-page";
  JournalWriter j(path);
  auto result = make(j).run("cutover", {}, steps);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(std::vector<std::string>(r.log.begin() + 6, r.log.end()),
            (std::vector<std::string>{"undo switch-proxy", "undo snapshot", "undo maintenance-on", "undo drain-cron"}));
  Recorder after;
  after.fail_at = "maintenance-off";
  steps = after.cutover_like();
  check = after.step("first-page", Phase::after, false);
  check.verifies_switch = true;
  steps.insert(steps.begin() + 5, check);
  fs::remove(path);
  JournalWriter j2(path);
  EXPECT_FALSE(make(j2).run("cutover", {}, steps).ok);
  EXPECT_EQ(std::count_if(after.log.begin(), after.log.end(), [](auto& l) { return l.rfind("undo", 0) == 0; }), 0);
}

// Later undos may rely on the one that failed (e.g. stopping green while the proxy still
// sends it traffic): they wait for a resume, and the journal says the operation is unfinished.
TEST_F(ExecutorTest, AFailedUndoStopsTheUndoAndLeavesTheRestForAResume) {
  Recorder r;
  r.fail_at = "snapshot";
  r.undo_fail_at = "snapshot";
  JournalWriter j(path);
  auto result = make(j).run("cutover", {}, r.cutover_like());
  ASSERT_EQ(result.undo_failures.size(), 1u);
  EXPECT_NE(result.undo_failures[0].find("undo of snapshot broke"), std::string::npos);
  EXPECT_EQ(r.log.back(), "undo snapshot");
  auto summary = read_journal(path);
  EXPECT_EQ(summary.outcome, "undo-failed");
  EXPECT_TRUE(summary.find("snapshot")->undo_failed);
  EXPECT_FALSE(summary.find("drain-cron")->undone);
}

TEST_F(ExecutorTest, ServiceRestoringUndosRunFirst) {
  Recorder r;
  r.fail_at = "upgrade";
  auto steps = r.cutover_like();
  steps[1].restores_service = true;  // maintenance-on
  JournalWriter j(path);
  make(j).run("cutover", {}, steps);
  std::vector<std::string> undos;
  for (auto& l : r.log)
    if (l.rfind("undo", 0) == 0) undos.push_back(l);
  EXPECT_EQ(undos, (std::vector<std::string>{"undo maintenance-on", "undo snapshot", "undo drain-cron"}));
}

TEST_F(ExecutorTest, TheHintOfAFailedStepReachesTheResultAndTheJournal) {
  std::vector<Step> steps(1);
  steps[0].name = "checks";
  steps[0].run = [](StepRun&) -> nlohmann::json { throw mupgrade::Error("schema differs", "compare with blue's own drift"); };
  JournalWriter j(path);
  auto result = make(j).run("cutover", {}, steps);
  EXPECT_EQ(result.hint, "compare with blue's own drift");
  EXPECT_NE(read_state_file(path).value_or("").find("compare with blue's own drift"), std::string::npos);
}

TEST_F(ExecutorTest, UndoDataIsJournaledBeforeTheChangeAndHandedToTheUndo) {
  std::vector<Step> steps(2);
  nlohmann::json seen;
  steps[0].name = "db-prepare";
  steps[0].run = [this](StepRun& run) -> nlohmann::json {
    run.remember({{"db_settings", {{"pct", 90}}}});
    auto journal = read_journal(path);
    EXPECT_EQ(journal.find("db-prepare")->undo_data["db_settings"]["pct"], 90) << "on disk before the change";
    return {};
  };
  steps[0].undo = [&seen](const nlohmann::json& data) { seen = data; };
  steps[1].name = "snapshot";
  steps[1].run = [](StepRun&) -> nlohmann::json { throw std::runtime_error("no space"); };
  JournalWriter j(path);
  make(j).run("cutover", {}, steps);
  EXPECT_EQ(seen["db_settings"]["pct"], 90);
}

TEST(TimingsTest, RendersATableWithTheWindow) {
  std::string out = render_timings({{"maintenance-on", Phase::window, 0.003, "ok"}, {"upgrade", Phase::window, 41.25, "ok"}}, 41.9);
  EXPECT_NE(out.find("maintenance-on  window       0.003  ok"), std::string::npos) << out;
  EXPECT_NE(out.find("41.900"), std::string::npos) << out;
  EXPECT_EQ(timings_to_json({{"a", Phase::after, 1, "ok"}})[0]["phase"], "after");
}
