#include "mupgrade/core/rehearsal_report.hpp"

#include <gtest/gtest.h>

using namespace mupgrade::core;

namespace {
RehearsalReport sample() {
  RehearsalReport r;
  r.site = "demo";
  r.clone = "clone-x";
  r.from_release = "4.4.1";
  r.target_release = "4.4.3 (Build: 20240902)";
  r.started_epoch = 1700000000;
  r.ok = true;
  r.timings = {{"prepare-code", Phase::prepare, 0.5, "ok"}, {"snapshot", Phase::window, 0.01, "ok"}, {"start-green", Phase::window, 0.8, "ok"},
               {"upgrade", Phase::window, 3.0, "ok"},      {"health-check", Phase::window, 0.05, "ok"}, {"teardown", Phase::after, 1.0, "ok"}};
  r.upgrade_s = 3.0;
  r.freeze_ms = 4.5;
  return r;
}
}  // namespace

TEST(RehearsalReportTest, WindowEstimateIsTheWindowStepsPlusTheCutoverOnlyAllowance) {
  auto r = sample();
  EXPECT_NEAR(estimate_window(r.timings, ChecksInWindow::run), 0.01 + 0.8 + 3.0 + 0.05 + kCutoverOnlyStepsAllowanceS, 1e-9);
  EXPECT_NEAR(clone_ready_seconds(r.timings), 0.81, 1e-9);
}

// On real Moodle the rehearsal's checks took 2-3 s and its estimate was 8-13 % over every
// PostgreSQL cutover that followed: the cutover skipped them. It skips the health check too:
// green's first page comes after its switch, out of the window.
TEST(RehearsalReportTest, ACutoverThatSkipsTheChecksIsEstimatedWithoutThemAndWithoutTheHealthCheck) {
  auto r = sample();
  r.timings.insert(r.timings.begin() + 4, {"checks", Phase::window, 3.2, "ok"});
  EXPECT_NEAR(estimate_window(r.timings, ChecksInWindow::run), 0.01 + 0.8 + 3.0 + 3.2 + 0.05 + kCutoverOnlyStepsAllowanceS, 1e-9);
  EXPECT_NEAR(estimate_window(r.timings, ChecksInWindow::skipped), 0.01 + 0.8 + 3.0 + kCutoverOnlyStepsAllowanceS, 1e-9);
  r.first_page_s = 0.7;
  EXPECT_EQ(RehearsalReport::from_json(r.to_json()).first_page_s, 0.7);
}

TEST(RehearsalReportTest, JsonRoundTrip) {
  auto r = sample();
  r.smoke = nlohmann::json::array({{{"check", "login page"}, {"ok", true}, {"detail", "HTTP 200"}}});
  auto back = RehearsalReport::from_json(r.to_json());
  EXPECT_EQ(back.to_json(), r.to_json());
  EXPECT_EQ(r.to_json()["verdict"], "ok");
}

TEST(RehearsalReportTest, PrometheusTextfile) {
  auto r = sample();
  r.window_estimate_s = 4.16;
  auto text = render_prometheus(r, 1690000000);
  EXPECT_NE(text.find("# TYPE mupgrade_rehearsal_success gauge\nmupgrade_rehearsal_success{site=\"demo\",target=\"4.4.3 (Build: 20240902)\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mupgrade_rehearsal_last_run_timestamp_seconds{site=\"demo\"} 1700000000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mupgrade_rehearsal_upgrade_seconds{site=\"demo\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mupgrade_rehearsal_window_estimate_seconds{site=\"demo\"} 4.16\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mupgrade_rehearsal_last_success_timestamp_seconds{site=\"demo\"} 1690000000\n"), std::string::npos) << text;
  r.ok = false;
  EXPECT_NE(render_prometheus(r, 0).find("mupgrade_rehearsal_success{site=\"demo\",target=\"4.4.3 (Build: 20240902)\"} 0\n"), std::string::npos);
}

TEST(RehearsalReportTest, SummaryNamesTheFailure) {
  auto r = sample();
  r.ok = false;
  r.failed_step = "upgrade";
  r.failed_component = "mod_quiz";
  r.error = "upgrade.php failed in mod_quiz";
  auto s = render_summary(r);
  EXPECT_NE(s.find("FAILED"), std::string::npos);
  EXPECT_NE(s.find("failed at step 'upgrade' (component mod_quiz): upgrade.php failed in mod_quiz"), std::string::npos) << s;
}
