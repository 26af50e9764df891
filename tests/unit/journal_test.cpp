#include "mupgrade/core/error.hpp"
#include "mupgrade/core/journal.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace mupgrade::core;
namespace fs = std::filesystem;

namespace {
std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("mupgrade-unit-" + std::to_string(::getpid()) + "-" + name)).string();
}
}  // namespace

TEST(JournalTest, RecordsStepsAndFindsTheInterruptedOne) {
  std::string path = temp_path("j1");
  fs::remove(path);
  {
    JournalWriter w(path);
    w.append({"operation-begin", "", "", 0, {{"operation", "cutover"}, {"args", {{"target", "4.5.0"}}}}});
    w.append({"begin", "maintenance-on"});
    w.append({"end", "maintenance-on", "ok", 0.003, {{"file", "climaintenance.html"}}});
    w.append({"begin", "snapshot"});
  }
  auto s = read_journal(path);
  EXPECT_EQ(s.operation, "cutover");
  EXPECT_EQ(s.args["target"], "4.5.0");
  EXPECT_FALSE(s.finished);
  EXPECT_EQ(s.interrupted_step(), "snapshot");
  ASSERT_NE(s.find("maintenance-on"), nullptr);
  EXPECT_EQ(s.find("maintenance-on")->outcome, "ok");
  EXPECT_DOUBLE_EQ(s.find("maintenance-on")->seconds, 0.003);
  EXPECT_EQ(s.find("maintenance-on")->facts["file"], "climaintenance.html");
  fs::remove(path);
}

TEST(JournalTest, AppendsToAnExistingJournalAndRecordsUndo) {
  std::string path = temp_path("j2");
  fs::remove(path);
  { JournalWriter(path).append({"begin", "a"}); }
  {
    JournalWriter w(path);
    w.append({"end", "a", "failed", 1.5});
    w.append({"undo-begin", "a"});
    w.append({"undo-end", "a", "ok", 0.1});
    w.append({"operation-end", "", "failed", 2});
  }
  auto s = read_journal(path);
  EXPECT_TRUE(s.finished);
  EXPECT_EQ(s.outcome, "failed");
  EXPECT_FALSE(s.interrupted_step());
  EXPECT_TRUE(s.find("a")->undone);
  std::ifstream in(path);
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, kJournalHeader);
  fs::remove(path);
}

TEST(JournalTest, IgnoresALineTornByACrashButNotDamageInTheMiddle) {
  std::string h = std::string(kJournalHeader) + "\n";
  auto torn = parse_journal(h + R"({"event":"begin","step":"a"})" + "\n" + R"({"event":"end","st)", "j");
  EXPECT_EQ(torn.interrupted_step(), "a");
  EXPECT_THROW(parse_journal(h + "garbage\n" + R"({"event":"begin","step":"a"})" + "\n", "j"), mupgrade::Error);
}

TEST(JournalTest, RefusesAnotherVersionOrAForeignFile) {
  try {
    parse_journal("# mupgrade journal v9\n", "state/j");
    FAIL();
  } catch (const mupgrade::Error& e) {
    EXPECT_NE(std::string(e.what()).find("another mupgrade version"), std::string::npos);
  }
  EXPECT_THROW(parse_journal("{}\n", "state/j"), mupgrade::Error);
  std::string path = temp_path("j3");
  std::ofstream(path) << "# mupgrade journal v9\n";
  EXPECT_THROW(JournalWriter w(path), mupgrade::Error);
  fs::remove(path);
}
