// The Reporting adapter: the textfile is written whole, with its mode, its directory made; the
// syslog sink never holds up or fails the caller.

#include "mupgrade/report/host_reporting.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

using namespace mupgrade;
namespace fs = std::filesystem;

namespace {
struct TempDir {
  TempDir() : path((fs::temp_directory_path() / ("mupgrade-unit-report-" + std::to_string(::getpid()))).string()) { fs::remove_all(path); }
  ~TempDir() { fs::remove_all(path); }
  std::string path;
};
}  // namespace

TEST(HostReportingTest, WritesTheTextfileWholeWithItsModeAndDirectory) {
  TempDir d;
  report::HostReporting r([](int, const std::string&) {});
  std::string file = d.path + "/metrics/mupgrade-cutover.prom";
  EXPECT_EQ(r.write_textfile(file, "a 1\n"), "");
  EXPECT_EQ(r.read_textfile(file), "a 1\n");
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_EQ(r.write_textfile(file, "a 2\n"), "");
  EXPECT_EQ(r.read_textfile(file), "a 2\n");
  EXPECT_FALSE(fs::exists(file + ".tmp")) << "no temporary file is left beside it";
  EXPECT_FALSE(r.read_textfile(d.path + "/missing.prom"));
}

TEST(HostReportingTest, AnUnwritableTextfileIsReportedNotThrown) {
  TempDir d;
  fs::create_directories(d.path);
  std::ofstream(d.path + "/file") << "x";
  report::HostReporting r([](int, const std::string&) {});
  std::string err = r.write_textfile(d.path + "/file/under-a-file.prom", "a 1\n");
  EXPECT_NE(err, "");
}

TEST(HostReportingTest, ASummaryGoesToTheSinkWithItsPriority) {
  std::atomic<int> priority{-1};
  std::string seen;
  report::HostReporting r([&](int p, const std::string& line) {
    seen = line;
    priority = p;
  });
  r.summary("cutover site=x ok", false);
  EXPECT_EQ(priority, LOG_INFO);
  EXPECT_EQ(seen, "cutover site=x ok");
  r.summary("cutover site=x FAILED step=upgrade", true);
  EXPECT_EQ(priority, LOG_ERR);
}

TEST(HostReportingTest, ASinkThatBlocksOrThrowsNeitherHoldsUpNorFailsTheCaller) {
  auto blocked = std::make_shared<std::atomic<bool>>(true);
  report::HostReporting slow([blocked](int, const std::string&) {
    while (*blocked) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }, std::chrono::milliseconds(200));
  auto t0 = std::chrono::steady_clock::now();
  slow.summary("x", false);
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(waited, std::chrono::milliseconds(1500));
  EXPECT_GE(waited, std::chrono::milliseconds(150));
  *blocked = false;  // let the left-behind thread end

  report::HostReporting throwing([](int, const std::string&) { throw std::runtime_error("no /dev/log"); });
  EXPECT_NO_THROW(throwing.summary("x", true));
}
