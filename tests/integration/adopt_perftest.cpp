// adopt's downtime on a site with a big moodledata (scripts/bench-adopt runs it; not a test:
// it prints figures and asserts only that each adoption worked). Per stack family: a stack
// (support/adopt_stack.hpp) with MUPGRADE_BENCH_MOODLEDATA_MB (default 1024) of moodledata
// laid out like Moodle's file pool, then MUPGRADE_BENCH_RUNS (default 3) times: `adopt --from
// --yes` with a client polling the login page through the public port, then `adopt --undo`.
// Prints per run and as medians: the downtime adopt reports (its window), the downtime the
// client saw (first answer that was not 200 to the first 200 from the set), and the steps'
// seconds (copy-live: the rsync while serving; copy-final: the delta in the window).
// MUPGRADE_BENCH_FAMILY picks bitnami, moodlehq or both (default); MUPGRADE_BENCH_JSON=FILE
// gets the figures as JSON.

#include "adopt_stack.hpp"
#include "site_fixture.hpp"

#include "mupgrade/http/http_client.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

using namespace mupgrade;
using namespace mupgrade::itest;
using nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

const char* kSteps[] = {"copy-live", "old-maintenance-on", "stop-old-stack", "copy-final", "start-set", "start-proxy"};

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

/// A client on the login page every 50 ms: the seconds from its first answer other than 200
/// to the next 200 from the adopted set (what a user saw).
class Client {
public:
  Client(int port, std::string host) : port_(port), host_(std::move(host)), t0_(Clock::now()) {
    thread_ = std::thread([this] {
      while (!stop_) {
        auto r = login_page(port_, host_);
        double at = std::chrono::duration<double>(Clock::now() - t0_).count();
        bool from_set = r.status == 200 && r.headers.count("x-mupgrade-set");
        {
          std::lock_guard l(m_);
          if (r.status != 200 && down_at_ < 0) down_at_ = at;
          if (from_set && down_at_ >= 0 && up_at_ < 0) up_at_ = at;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
  }
  ~Client() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  double downtime() {
    std::lock_guard l(m_);
    return down_at_ >= 0 && up_at_ >= 0 ? up_at_ - down_at_ : -1;
  }

private:
  int port_;
  std::string host_;
  Clock::time_point t0_;
  std::atomic<bool> stop_{false};
  std::mutex m_;
  double down_at_ = -1, up_at_ = -1;
  std::thread thread_;
};

json bench_family(const StackFamily& fam, std::uint64_t moodledata_bytes, int runs) {
  StackVolumes volumes;
  Cleanup cleanup;
  std::string data = make_subvolume(cleanup, "stack");
  auto stack = make_stack(cleanup, volumes, fam, data);
  auto t0 = Clock::now();
  size_t files = fill_moodledata(stack.moodledata_host, moodledata_bytes, stack.uid);
  std::string du;
  sh("du -sm '" + stack.moodledata_host + "' | cut -f1", &du);
  std::printf("%s: moodledata %s MB in %zu files (written in %.1f s)\n", fam.name, du.substr(0, du.find('\n')).c_str(), files,
              std::chrono::duration<double>(Clock::now() - t0).count());
  std::map<std::string, std::vector<double>> figures;
  json per_run = json::array();
  for (int i = 0; i < runs; ++i) {
    SiteCleanup sc;
    sc.site = unique_name("bench");
    sc.pool = test_pool() + "/" + sc.site;
    sc.state = scratch_dir() + "/" + sc.site;
    std::string config = sc.state + "-site.yml", log = sc.state + "-adopt.log";
    std::string out;
    Client client(fam.port, stack.host);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto a0 = Clock::now();
    int rc = sh(fmt::format("({} adopt --from {} --site {} --pool {} --state-dir {} --config {} --yes --json 2>'{}')", MUPGRADE_BINARY,
                            stack.project, sc.site, sc.pool, sc.state, config, log),
                &out);
    double total = std::chrono::duration<double>(Clock::now() - a0).count();
    EXPECT_TRUE(wait_200(fam.port, stack.host));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    client.stop();
    EXPECT_EQ(rc, 0) << out << read_file(log);
    if (rc != 0) break;
    auto j = json::parse(out);
    json run = {{"run", i + 1}, {"adopt_s", total}, {"downtime_s", j.value("downtime_s", 0.0)}, {"client_downtime_s", client.downtime()}};
    for (const auto& s : j["steps"])
      if (std::find(std::begin(kSteps), std::end(kSteps), s.value("step", "")) != std::end(kSteps)) run[s.value("step", "")] = s.value("seconds", 0.0);
    for (auto& [k, v] : run.items())
      if (k != "run") figures[k].push_back(v.get<double>());
    std::printf("%s run %d: %s\n", fam.name, i + 1, run.dump().c_str());
    per_run.push_back(run);
    EXPECT_EQ(run_binary(fmt::format("adopt --undo --site {} --config {} 2>&1", sc.site, config), &out), 0) << out;
    std::remove(config.c_str());
  }
  json medians = json::object();
  for (const auto& [k, v] : figures) medians[k] = median(v);
  return {{"family", fam.name}, {"moodledata_mb", std::atoi(du.c_str())}, {"files", files}, {"runs", per_run}, {"medians", medians}};
}

TEST(AdoptPerf, DowntimeWithABigMoodledata) {
  std::uint64_t mb = static_cast<std::uint64_t>(env_int("MUPGRADE_BENCH_MOODLEDATA_MB", 1024));
  int runs = env_int("MUPGRADE_BENCH_RUNS", 3);
  std::string which = std::getenv("MUPGRADE_BENCH_FAMILY") ? std::getenv("MUPGRADE_BENCH_FAMILY") : "both";
  json all = json::array();
  for (const auto& fam : {StackFamily{"bitnami_mariadb_volumes", StackKind::bitnami, 18850}, StackFamily{"moodlehq_postgres_binds", StackKind::moodlehq, 18851}}) {
    if (which != "both" && std::string(fam.name).rfind(which, 0) != 0) continue;
    all.push_back(bench_family(fam, mb << 20, runs));
  }
  std::printf("\nmupgrade adopt --from --yes, medians of %d runs (the host's load average: %s)\n", runs, read_file("/proc/loadavg").c_str());
  for (const auto& f : all) {
    const auto& m = f["medians"];
    std::printf("%-26s moodledata %d MB in %zu files: downtime %.2f s (adopt's own figure), %.2f s seen by a client; "
                "rsync while serving %.1f s, final delta %.2f s; stop stack %.2f s, start set %.2f s, proxy %.2f s; whole adopt %.1f s\n",
                f["family"].get<std::string>().c_str(), f["moodledata_mb"].get<int>(), f["files"].get<size_t>(), m.value("downtime_s", 0.0),
                m.value("client_downtime_s", 0.0), m.value("copy-live", 0.0), m.value("copy-final", 0.0), m.value("stop-old-stack", 0.0),
                m.value("start-set", 0.0), m.value("start-proxy", 0.0), m.value("adopt_s", 0.0));
  }
  if (const char* file = std::getenv("MUPGRADE_BENCH_JSON"); file && *file) std::ofstream(file) << all.dump(2) << "\n";
}

}  // namespace
