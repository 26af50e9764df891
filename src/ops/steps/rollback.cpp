// The steps of a rollback: traffic from green (live) back to blue (the rollback target).

#include "mupgrade/ops/plans.hpp"

#include "mupgrade/core/poll.hpp"

#include <fmt/format.h>

namespace mupgrade::ops {

using core::Phase;
using nlohmann::json;

void add_rollback_steps(std::vector<StepDef>& t) {
  StepDef d;
  d = {};
  d.name = step::maintenance_on;
  d.phase = Phase::window;
  d.operations = {"rollback"};
  d.restores_service = true;
  d.what = "CLI maintenance on green (no new writes there)";
  d.undo_what = "remove it";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    s.maintenance_file(c.green, true);
    return json::object();
  };
  d.undo = [](Site& s, StepContext& c, const json&) { s.maintenance_file(c.green, false); };
  t.push_back(d);

  d = {};
  d.name = step::write_guard;
  d.phase = Phase::window;
  d.operations = {"rollback"};
  d.required = true;
  d.after = {step::maintenance_on};
  d.restores_service = true;
  d.what = "the proxy answers 503 itself while green's requests in flight finish; then green's writes since the cutover are counted again";
  d.undo_what = "the proxy sends traffic to green again";
  // The count before the rollback began is what the admin saw; writes acknowledged between it
  // and maintenance-on would be left behind unreported. Count again when no more can come.
  // Held at the proxy: green in maintenance still takes a request per free connection, so
  // under load its in-flight count seldom reaches 0 (18 s with wrk flat out on real Moodle).
  d.run = [](Site& s, StepContext& c, core::StepRun& r) {
    auto proxy = s.proxy();
    r.remember({{"held", true}});
    proxy->hold();
    std::optional<int> running;
    core::poll_until(
        [&](std::string& why) {
          running = proxy->in_flight();
          why = running ? fmt::format("{} request(s) still running on green", *running) : "";
          return !running || *running == 0;
        },
        kDrainTimeout, "green's requests in flight did not finish", "a request runs longer than the drain timeout: retry later");
    auto writes = s.ports().db.writes_since(s.db_endpoint(c.green), c.watermark);
    if (writes.total() > c.writes_left_behind && !c.discard_writes)
      throw Error(fmt::format("refusing to roll back: {} writes were made on {} since the cutover ({}), after the first count",
                              writes.total(), c.green, writes.describe(s.config().db.prefix)),
                  "rerun with --discard-writes to go back anyway (green is kept, so they can still be recovered by hand)");
    c.writes_left_behind = writes.total();
    c.facts["left_behind"] = writes.describe(s.config().db.prefix);
    return json{{"writes_left_behind", writes.total()}, {"left_behind", c.facts["left_behind"]}};
  };
  // A refused rollback (writes on green) leaves green serving: the hold ends.
  d.undo = [](Site& s, StepContext&, const json&) {
    s.ensure_proxy_running();
    s.proxy()->release_hold();
  };
  t.push_back(d);

  d = {};
  d.name = "start-blue";
  d.phase = Phase::window;
  d.operations = {"rollback"};
  d.required = true;
  d.what = "make sure blue's containers run";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    if (s.web_running(c.blue)) return json::object();
    auto web = s.ports().containers.inspect_container(s.web_container(c.blue));
    auto times = s.start_set(c.blue, web ? web->image : s.config().web_image);
    return json{{"db_ready_s", std::chrono::duration<double>(times.db_ready).count()},
                {"web_ready_s", std::chrono::duration<double>(times.web_ready).count()}};
  };
  t.push_back(d);

  d = {};
  d.name = "blue-maintenance-off";
  d.phase = Phase::window;
  d.operations = {"rollback"};
  d.required = true;
  d.after = {"start-blue"};
  d.what = "remove the maintenance file from blue";
  d.undo_what = "put it back";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    s.maintenance_file(c.blue, false);
    return json::object();
  };
  d.undo = [](Site& s, StepContext& c, const json&) { s.maintenance_file(c.blue, true); };
  t.push_back(d);

  d = {};
  d.name = step::switch_proxy;
  d.phase = Phase::window;
  d.operations = {"rollback"};
  d.required = true;
  d.point_of_no_return = true;
  d.after = {"start-blue", "blue-maintenance-off", step::maintenance_on, step::write_guard};
  d.what = "proxy sends new requests back to blue";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    auto r = s.proxy()->switch_to(s.backend(c.blue));
    return json{{"switch_ms", std::chrono::duration<double, std::milli>(r.switched).count()}};
  };
  t.push_back(d);

  d = {};
  d.name = "cron";
  d.phase = Phase::after;
  d.operations = {"rollback"};
  d.after = {step::switch_proxy};
  d.what = "cron.php --enable on blue";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    s.cli(c.blue).cron_enable();
    return json::object();
  };
  t.push_back(d);

  d = {};
  d.name = "stop-green";
  d.phase = Phase::after;
  d.operations = {"rollback"};
  d.after = {step::switch_proxy};
  d.what = "stop green's containers (kept for inspection)";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    s.stop_set(c.green);
    return json::object();
  };
  t.push_back(d);

  d = {};
  d.name = "record";
  d.phase = Phase::after;
  d.operations = {"rollback"};
  d.required = true;
  d.after = {step::switch_proxy};
  d.what = "site.json: blue live, no rollback target";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    core::SiteState st;
    st.live_set = c.blue;
    st.live_release = s.db_config_value(c.blue, "release");
    st.cutover_at = core::utc_now_iso();
    s.save_state(st);
    return json::object();
  };
  t.push_back(d);
}

}  // namespace mupgrade::ops
