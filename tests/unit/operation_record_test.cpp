#include "mupgrade/core/operation_record.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>

using namespace mupgrade::core;

namespace {

OperationRecord a_cutover() {
  OperationRecord r;
  r.operation = "cutover";
  r.site = "demo";
  r.ok = true;
  r.started_epoch = 1795000000.5;
  r.duration_s = 9.25;
  r.window_s = 4.0;
  r.upgrade_s = 3.25;
  r.from_set = "blue";
  r.to_set = "green";
  r.switched = true;
  r.rollback_target_present = true;
  r.journal = "/var/lib/mupgrade/demo/journal/x.jsonl";
  return r;
}

}  // namespace

TEST(OperationRecordTest, TheTextfileHasEveryMetricOnceWithHelpTypeAndBaseUnits) {
  std::string t = render_operation_metrics(a_cutover(), 1795000000.5);
  std::istringstream in(t);
  std::string line;
  std::set<std::string> names;
  std::regex sample(R"(^(mupgrade_cutover_[a-z_]+)\{site="demo"(,failed_step="[^"]*")?\} -?[0-9.e+]+$)");
  while (std::getline(in, line)) {
    if (line.rfind("# ", 0) == 0) continue;
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, sample)) << line;
    EXPECT_TRUE(names.insert(m[1]).second) << "twice: " << m[1];
    std::string n = m[1];
    bool unit_ok = n.ends_with("_seconds") || n.ends_with("_success") || n.ends_with("_present") || n.ends_with("_switched");
    EXPECT_TRUE(unit_ok) << n << ": times are in seconds, flags are 0/1";
    EXPECT_NE(t.find("# TYPE " + n + " gauge\n"), std::string::npos) << n;
    EXPECT_NE(t.find("# HELP " + n + " "), std::string::npos) << n;
  }
  EXPECT_EQ(names, (std::set<std::string>{"mupgrade_cutover_last_run_timestamp_seconds", "mupgrade_cutover_success",
                                          "mupgrade_cutover_last_success_timestamp_seconds", "mupgrade_cutover_duration_seconds",
                                          "mupgrade_cutover_window_seconds", "mupgrade_cutover_upgrade_seconds",
                                          "mupgrade_cutover_overhead_seconds", "mupgrade_cutover_switched",
                                          "mupgrade_cutover_rollback_target_present"}));
  EXPECT_NE(t.find("mupgrade_cutover_overhead_seconds{site=\"demo\"} 0.75\n"), std::string::npos) << t;
  EXPECT_NE(t.find("mupgrade_cutover_success{site=\"demo\",failed_step=\"\"} 1\n"), std::string::npos) << t;
}

TEST(OperationRecordTest, AFailureIsALabelAndTheLastSuccessIsReadBack) {
  auto r = a_cutover();
  r.ok = false;
  r.failed_step = "upgrade";
  std::string t = render_operation_metrics(r, 1794000000);
  EXPECT_NE(t.find("mupgrade_cutover_success{site=\"demo\",failed_step=\"upgrade\"} 0\n"), std::string::npos) << t;
  EXPECT_EQ(last_success_in_textfile(t, "cutover"), 1794000000.0);
  EXPECT_EQ(last_success_in_textfile(t, "rollback"), 0.0) << "another operation's metric is not read";
  EXPECT_EQ(last_success_in_textfile("", "cutover"), 0.0);
  EXPECT_EQ(last_success_in_textfile("mupgrade_cutover_last_success_timestamp_seconds{site=\"x\"} garbage\n", "cutover"), 0.0);
}

TEST(OperationRecordTest, LabelValuesAreEscaped) {
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(OperationRecordTest, TheTextfileSitsBesideTheRehearsals) {
  EXPECT_EQ(operation_textfile("/var/lib/mupgrade/demo/metrics/mupgrade.prom", "cutover"), "/var/lib/mupgrade/demo/metrics/mupgrade-cutover.prom");
  EXPECT_EQ(operation_textfile("/var/lib/node_exporter/mupgrade-demo.prom", "rollback"), "/var/lib/node_exporter/mupgrade-demo-rollback.prom");
  EXPECT_EQ(operation_textfile("/x/metrics", "cutover"), "/x/metrics-cutover.prom");
}

TEST(OperationRecordTest, OverheadIsTheWindowWithoutUpgradeAndNeverNegative) {
  auto r = a_cutover();
  EXPECT_EQ(r.overhead_s(), 0.75);
  r.window_s = 0;
  EXPECT_EQ(r.overhead_s(), 0.0);
}

TEST(OperationRecordTest, TheSummaryIsOneLineWithVerdictSetsAndSeconds) {
  auto r = a_cutover();
  EXPECT_EQ(summary_line(r),
            "cutover site=demo ok from=blue to=green switched window=4.00s upgrade=3.25s overhead=0.75s duration=9.25s "
            "rollback_target=yes journal=/var/lib/mupgrade/demo/journal/x.jsonl");
  r.ok = false;
  r.failed_step = "checks";
  r.switched = false;
  r.window_s = 0;
  EXPECT_EQ(summary_line(r), "cutover site=demo FAILED step=checks from=blue to=green duration=9.25s rollback_target=yes journal=/var/lib/mupgrade/demo/journal/x.jsonl");
}

TEST(OperationRecordTest, JsonCarriesTheOverhead) {
  auto j = a_cutover().to_json();
  EXPECT_EQ(j["overhead_s"].get<double>(), 0.75);
  EXPECT_EQ(j["operation"], "cutover");
  EXPECT_EQ(j["rollback_target_present"], true);
}
