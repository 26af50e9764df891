// `mupgrade up` through the binary on the real components (Docker, btrfs, the stand-in on
// MariaDB, HAProxy): after a cutover, every container of the site and its proxy removed with
// `docker rm -f`; `up` makes them again from the subvolumes and site.json, the public URL
// answers from the live set, a second `up` changes nothing, and rollback still works.

#include "fixtures.hpp"
#include "site_fixture.hpp"

#include "mupgrade/http/http_client.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>

using namespace mupgrade;
using namespace mupgrade::itest;

namespace {

std::string serving_set(const core::SiteConfig& cfg) {
  auto r = http::get(cfg.proxy.url + "/login/index.php", cfg.public_host, std::chrono::seconds(10));
  return r.status == 200 ? r.headers["x-mupgrade-set"] : fmt::format("HTTP {} {}", r.status, r.transport_error);
}

TEST(UpITest, RemovedContainersComeBackFromTheSubvolumesAndRollbackStillWorks) {
  SiteCleanup cleanup;
  auto ls = make_site(cleanup, db::Kind::mariadb, 18700);
  const auto& cfg = ls->cfg;
  std::string out;
  ASSERT_EQ(run_binary("cutover --config " + ls->config_file + " 2>&1", &out), 0) << out;
  std::string green = ls->site->state()->live_set;
  ASSERT_EQ(serving_set(cfg), green);

  // Only this site's containers (label and name both), the proxy's included.
  size_t removed = 0;
  for (const auto& c : engine().list_containers({{"mupgrade.site", cfg.site}}, true))
    if (c.name.rfind("mupgrade-" + cfg.site + "-", 0) == 0) engine().remove_container(c.id, true), ++removed;
  ASSERT_EQ(removed, 5u) << "green's and blue's DB and web, and the proxy";
  ASSERT_NE(serving_set(cfg), green);

  auto t0 = std::chrono::steady_clock::now();
  int rc = run_binary("up --config " + ls->config_file + " 2>&1", &out);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(rc, 0) << out;
  std::printf("mupgrade up after docker rm -f of the site's 5 containers: %.1f s\n%s", secs, out.c_str());
  EXPECT_EQ(serving_set(cfg), green);
  EXPECT_EQ(ls->served_release(), "4.4.3 (Build: 20240902)");
  EXPECT_TRUE(ls->site->web_running(ls->blue)) << "the rollback target runs again, idle";
  EXPECT_TRUE(ls->site->maintenance_file_present(ls->blue));
  auto proxy = engine().inspect_container(cfg.proxy.container);
  ASSERT_TRUE(proxy);
  EXPECT_EQ(proxy->labels.at("mupgrade.role"), "proxy");

  // Everything runs now: a second `up` changes nothing and says so.
  ASSERT_EQ(sh(fmt::format("{{ {} up --json --config {} 2>/dev/null; }}", MUPGRADE_BINARY, ls->config_file), &out), 0) << out;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["changed"], false);
  EXPECT_EQ(j["live"], green);

  // doctor and proxy init read what they need from the site config and site.json.
  EXPECT_EQ(run_binary("doctor --config " + ls->config_file + " 2>&1", &out), 0) << out;
  EXPECT_NE(out.find(ls->site->db_container(green) + " answers"), std::string::npos) << out;
  EXPECT_NE(out.find("from set " + green), std::string::npos) << out;
  EXPECT_EQ(run_binary("proxy init --config " + ls->config_file + " 2>&1", &out), 2) << out;
  EXPECT_NE(out.find(cfg.proxy.config_dir + " already holds a mupgrade proxy config (live backend " + green + ")"), std::string::npos) << out;

  ASSERT_EQ(run_binary("rollback --config " + ls->config_file + " 2>&1", &out), 0) << out;
  EXPECT_EQ(serving_set(cfg), ls->blue);
  EXPECT_EQ(ls->served_release(), "4.4.1 (Build: 20240610)");
}

}  // namespace
