// Steps of the window: from blue's maintenance page to the proxy switch. Every second here is
// a second users wait; anything that can happen before belongs in prepare.

#include "mupgrade/ops/plans.hpp"
#include "../survey.hpp"

#include "mupgrade/core/poll.hpp"
#include "mupgrade/moodle/upgrade_output.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <future>
#include <optional>

namespace mupgrade::ops {

using core::Phase;
using nlohmann::json;

namespace {

double seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

// A multi-line CLI text as one line, whole: the second half of a schema report matters too.
std::string one_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  for (auto& ch : text)
    if (ch == '\n') ch = ';';
  return text;
}

json snapshot(Site& s, StepContext& c) {
  auto& storage = s.ports().storage;
  auto green = s.paths(c.green), blue = s.paths(c.blue);
  storage.make_dirs(green.dir);
  auto freezer = s.ports().db.freezer(s.db_endpoint(c.blue));
  // Blue's Redis (sessions, MUC) written out at the freeze point: blue is in maintenance, so
  // no session changes after it; green's Redis starts from this dump.
  auto t_cache = std::chrono::steady_clock::now();
  bool cache_saved = s.save_cache(c.blue);
  double cache_save_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_cache).count();
  storage.sync(blue.dir);
  auto report = freezer->freeze([&] {
    storage.snapshot(blue.db, green.db);
    storage.snapshot(blue.moodledata, green.moodledata);
  });
  // db-prepare's settings back on production as soon as the snapshot exists.
  if (c.facts.contains("db_settings")) freezer->restore(c.facts["db_settings"]);
  if (s.config().cache.enabled()) {
    // A blue from before the site had a cache service has none to copy: green's starts empty.
    if (storage.is_subvolume(blue.cache)) storage.snapshot(blue.cache, green.cache);
    else storage.create_subvolume(green.cache);
  }
  double held = std::chrono::duration<double, std::milli>(report.held).count();
  c.facts["freeze_ms"] = held;
  json out = {{"freeze", report.method}, {"held_ms", held}};
  if (s.config().cache.enabled()) out["cache"] = {{"saved", cache_saved}, {"save_ms", cache_save_ms}};
  return out;
}

json upgrade(Site& s, StepContext& c) {
  std::string last;
  auto result = s.cli(c.green).upgrade(
      [&](const moodle::UpgradeProgress& p) {
        if (p.component != last && c.progress) c.progress->upgrade_component(std::chrono::duration<double>(p.elapsed).count(), p.component);
        last = p.component;
      },
      std::chrono::seconds(s.config().upgrade_timeout_s));
  std::string log = s.save_log(c.green + "-upgrade.log", result.output);
  c.facts["upgrade_log"] = log;
  c.facts["upgrade_s"] = std::chrono::duration<double>(result.duration).count();
  if (!result.ok) {
    if (auto refused = moodle::plugins_failing_dependencies(result.output); !refused.empty()) {
      c.facts["failed_component"] = refused.front();
      throw Error(fmt::format("upgrade.php's plugin check refuses {} (Dependencies check failed); log: {}", join_names(refused), log), kRefusedPluginsFix);
    }
    std::string why = result.summary.environment_failed ? "environment check failed: " + result.summary.environment_problems : result.summary.error;
    std::string component = result.summary.last_component.empty() ? "core" : result.summary.last_component;
    c.facts["failed_component"] = component;
    throw Error(fmt::format("upgrade.php failed in {} ({}); log: {}", component, why, log),
                c.rehearsal() ? "fix the cause (a plugin, the image, a setting) before the real cutover"
                              : "green is kept as it stopped: inspect it, fix the cause, and run cutover again");
  }
  json out = {{"upgrade_s", c.facts["upgrade_s"]}, {"log", log}, {"to", result.summary.to_release}};
  // Sessions in the set's Redis, in the shape before Moodle 4.5, would all be unknown to 4.5's
  // code: carried to the new shape in green's own Redis (a no-op unless the upgrade crossed 4.5).
  if (s.config().cache.enabled()) {
    try {
      std::string said = s.cli(c.green).carry_redis_sessions(core::kCacheAlias);
      out["sessions"] = said;
      if (c.progress && said.rfind("carried", 0) == 0) c.progress->note("upgrade: " + said);
    } catch (const moodle::MoodleCliError& e) {  // the program failed; a failed Docker call fails the step
      c.warn(fmt::format("upgrade: the sessions in Redis were not carried to Moodle 4.5's shape, so users logged in before "
                         "the cutover must log in again ({})", e.what()));
    }
  }
  return out;
}

// What the last rehearsal proved on the same code and a copy of today's data (its checks, and
// its clone's pages) is not proved again in the window: green's first page, cold because
// upgrade.php purges every cache as it exits (0.6-0.8 s on real 4.5.6), is rendered right after
// the switch instead, and a failure there switches back (green-first-page). Never in a rehearsal.
bool first_page_after_switch(const StepContext& c) { return !c.rehearsal() && c.first_page_after_switch; }

// Green's first page after upgrade.php is cold (1.8-2.2 s on real Moodle 4.5.6): rendered on a
// thread of its own beside work the window must do anyway, it leaves the health check a warm
// page. Its answer is the health check's to judge; a GET that cannot be made at all fails the
// step. Joined even when that work fails.
class FirstPage {
public:
  FirstPage(Site& s, const std::string& set)
      : page_(std::async(std::launch::async, [&s, set] {
          auto t0 = std::chrono::steady_clock::now();
          s.wait_web_answering(set);  // start-green did not wait for Apache
          s.get(set, "/login/index.php");
          return seconds(std::chrono::steady_clock::now() - t0);
        })) {}
  FirstPage(const FirstPage&) = delete;
  FirstPage& operator=(const FirstPage&) = delete;
  ~FirstPage() {
    if (page_.valid()) try { page_.get(); } catch (...) {}
  }
  double wait_s() { return page_.get(); }  // the page's seconds

private:
  std::future<double> page_;
};

json checks(Site& s, StepContext& c) {
  if (!c.rehearsal() && c.facts.contains("checks_proven_by"))
    return {{"skipped", "proven by the rehearsal of " + c.facts["checks_proven_by"].get<std::string>() + " on the same code, after the last cutover"}};
  // Both only read; run at once they cost the window one PHP run instead of two.
  auto schema = std::async(std::launch::async, [&s, &c] { return s.cli(c.green).schema_differences(); });
  FirstPage page(s, c.green);  // alongside the checks
  moodle::CheckRun chk;
  try {
    chk = s.cli(c.green).checks("upgradecheck");
  } catch (...) {
    try { schema.get(); } catch (...) {}
    throw;
  }
  std::optional<std::string> diff = schema.get();
  c.facts["first_page_s"] = page.wait_s();  // what a cutover that skips the checks spends on it alone
  if (chk.level == moodle::CheckLevel::critical || chk.level == moodle::CheckLevel::unknown)
    throw Error("green fails Moodle's upgrade check: " + one_line(chk.output));
  if (!diff) return json::object();
  auto items = moodle::parse_schema_differences(*diff);
  if (items.empty()) throw Error("green's DB schema differs from its code: " + one_line(*diff));
  // What the live site already had before the upgrade (verify-target asked its own code) is the
  // site's drift, not the upgrade's: a warning. Columns, indexes or tables that no install.xml
  // defines are a site's own too (a local plugin may add columns to core tables at install,
  // during this very upgrade): the release's code never uses them, so they are listed. Anything
  // else the upgrade left is something the code expects and the DB lacks: it fails.
  std::vector<moodle::SchemaDifference> before;
  for (const auto& d : c.facts.value("live_schema", json::array()))
    before.push_back({d.value("table", ""), d.value("what", ""), d.value("extra", false)});
  auto fresh = moodle::new_schema_differences(before, items);
  std::vector<moodle::SchemaDifference> wrong, extra, on_live;
  for (const auto& d : fresh) (d.extra ? extra : wrong).push_back(d);
  for (const auto& d : items)
    if (std::find_if(fresh.begin(), fresh.end(), [&](const auto& f) { return f.table == d.table && f.what == d.what; }) == fresh.end()) on_live.push_back(d);
  if (!wrong.empty())
    throw Error(fmt::format("the upgrade left green's DB schema different from its code: {}{}{}", describe_differences(wrong),
                            extra.empty() ? "" : fmt::format(" (besides {} extra column(s), index(es) or table(s): {})", extra.size(), describe_differences(extra)),
                            on_live.empty() ? "" : fmt::format(" (and {} difference(s) the live site already had: {})", on_live.size(), describe_differences(on_live))),
                "the report is Moodle's check_database_schema.php on green; green is kept for diagnosis");
  if (!on_live.empty())
    c.warn(fmt::format("checks: {} schema difference(s) the live site already had before the upgrade (its own drift, not the upgrade's): {}",
                       on_live.size(), describe_differences(on_live)));
  if (!extra.empty() && c.progress)
    c.progress->note(fmt::format("checks: the DB has {} column(s), index(es) or table(s) that no install.xml of the release defines "
                                 "(a plugin's or the site's own; Moodle's code does not use them): {}",
                                 extra.size(), describe_differences(extra)));
  auto texts = [](const std::vector<moodle::SchemaDifference>& v) {
    std::vector<std::string> out;
    for (const auto& d : v) out.push_back(d.table + ": " + d.what);
    return out;
  };
  return json{{"schema_extra", texts(extra)}, {"schema_on_live", texts(on_live)}};
}

// Writes users made on green since `mark`: after the switch, moving traffic back leaves them
// behind, so no automatic path does it (rollback's guard applies).
void refuse_if_green_has_writes(Site& s, StepContext& c, const json& mark) {
  if (!mark.is_object() || mark.empty()) return;
  auto writes = s.ports().db.writes_since(s.db_endpoint(c.green), mark);
  if (writes.total() > 0)
    throw Error(fmt::format("green {} already holds writes made through the proxy ({}); moving traffic back would leave them behind",
                            c.green, writes.describe(s.table_prefix(c.green))),
                "check which set the proxy serves ('mupgrade status'); 'mupgrade rollback --discard-writes' goes back anyway");
}

}  // namespace

void add_window_steps(std::vector<StepDef>& t) {
  StepDef d;
  d = {};
  d.name = step::maintenance_on;
  d.phase = Phase::window;
  d.operations = {"cutover"};
  d.required = true;
  d.restores_service = true;
  d.what = "CLI maintenance on blue (climaintenance.html: every request gets 503)";
  d.undo_what = "remove it";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    s.maintenance_file(c.blue, true);
    return json::object();
  };
  // Blue serves again only if its containers run: a Docker daemon restarted during the window
  // stopped them.
  // A restarted web container may have a new address, and a proxy started before it could not
  // resolve it: point the proxy at blue again.
  d.undo = [](Site& s, StepContext& c, const json&) {
    if (s.ensure_set_running(c.blue)) s.proxy()->switch_to(s.backend(c.blue));
    s.maintenance_file(c.blue, false);
  };
  t.push_back(d);

  d = {};
  d.name = "hold-traffic";
  d.phase = Phase::window;
  d.operations = {"cutover"};
  d.after = {step::maintenance_on};
  d.restores_service = true;
  d.what = "the proxy answers 503 itself (Retry-After, as Moodle does) and waits for blue's requests in flight to finish";
  d.undo_what = "the proxy sends traffic to blue again";
  // A write that passed Moodle's maintenance check just before maintenance-on must commit
  // before the snapshot, or it would be acknowledged to the user and missing on green.
  d.run = [](Site& s, StepContext&, core::StepRun& r) {
    auto proxy = s.proxy();
    r.remember({{"held", true}});
    if (!proxy->hold()) return json{{"held", false}, {"why", proxy->kind() + " cannot hold traffic: blue's maintenance page answers"}};
    auto t0 = std::chrono::steady_clock::now();
    std::optional<int> running;
    core::poll_until(
        [&](std::string& why) {
          running = proxy->in_flight();
          why = running ? fmt::format("{} request(s) still running on blue", *running) : "";
          return !running || *running == 0;
        },
        kDrainTimeout, "blue's requests in flight did not finish", "a request runs longer than the drain timeout: retry later");
    return json{{"held", true}, {"drained", running.has_value()}, {"drain_ms", std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count()}};
  };
  // A proxy that stopped during the window (crash, an admin) is started again: blue cannot
  // serve without it, and its config still names blue.
  d.undo = [](Site& s, StepContext&, const json&) {
    s.ensure_proxy_running();
    s.proxy()->release_hold();
  };
  t.push_back(d);

  d = {};
  d.name = "watermark";
  d.phase = Phase::window;
  d.operations = {"cutover"};
  d.after = {step::maintenance_on, "hold-traffic"};
  d.what = "record blue's write high-water marks (logstore and content tables)";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    c.watermark = s.ports().db.watermark(s.db_endpoint(c.blue));
    return json{{"watermark", c.watermark}};
  };
  t.push_back(d);

  d = {};
  d.name = step::snapshot;
  d.phase = Phase::window;
  d.operations = {"cutover", "rehearse"};
  d.required = true;
  d.after = {step::db_prepare, "sync", step::maintenance_on, "hold-traffic", "watermark", "drain-cron"};
  d.what = "freeze blue's DB, snapshot db + moodledata into green, unfreeze (with a cache service: blue's Redis saved first, its dump snapshotted too)";
  d.what_in_rehearsal = "freeze production's DB for the snapshot instant, snapshot db + moodledata (and the saved Redis dump) into the clone";
  d.undo_what = "delete green's snapshots unless green is kept for diagnosis";
  d.run = [](Site& s, StepContext& c, core::StepRun& r) {
    r.remember({{"db", s.paths(c.green).db}, {"moodledata", s.paths(c.green).moodledata}, {"cache", s.paths(c.green).cache}});
    return snapshot(s, c);
  };
  d.undo = [](Site& s, StepContext& c, const json&) {
    if (!c.remove_failed_green) return;
    for (const auto& sub : {s.paths(c.green).db, s.paths(c.green).moodledata, s.paths(c.green).cache}) s.delete_if_subvolume(sub);
  };
  t.push_back(d);

  d = {};
  d.name = step::start_green;
  d.phase = Phase::window;
  d.operations = {"cutover", "rehearse"};
  d.required = true;
  d.after = {step::snapshot, step::prepare_code, "isolate-clone", "create-green"};
  d.what = "start green's DB and web containers (and its own Redis) on the snapshots, with the target image";
  d.what_in_rehearsal = "start the clone's DB and web containers on an internal network (no route out, nothing published)";
  d.undo_what = "stop them (removed when green is not kept)";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    // upgrade.php runs in the web container but needs no web server: Apache gets the whole
    // upgrade to answer (the first page waits for it), not the window's critical path.
    auto times = s.start_set(c.green, s.config().target_image, WebStart::container);
    json out{{"db_ready_s", seconds(times.db_ready)}, {"web_started_s", seconds(times.web_ready)}};
    if (!times.opcache.empty()) out["opcache"] = times.opcache;
    if (times.opcache.starts_with("not used")) c.warn("green's OPcache file cache " + times.opcache + ": its first page compiles every script");
    return out;
  };
  d.undo = [](Site& s, StepContext& c, const json&) {
    if (c.remove_failed_green) s.remove_containers(c.green);
    else s.stop_set(c.green);
  };
  t.push_back(d);

  d = {};
  d.name = "green-maintenance-off";
  d.phase = Phase::window;
  d.operations = {"cutover", "rehearse"};
  d.after = {step::start_green};
  d.what = "remove the maintenance file from green (not public yet)";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    s.maintenance_file(c.green, false);
    return json::object();
  };
  t.push_back(d);

  d = {};
  d.name = "relax-durability";
  d.phase = Phase::window;
  d.operations = {"cutover", "rehearse"};
  d.after = {step::start_green};
  d.applies = [](const core::SiteConfig& cfg) { return cfg.db.relaxed_durability; };
  d.what = "green's DB commits without waiting for fsync (a throwaway copy until the switch)";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    auto ep = s.db_endpoint(c.green);
    s.ports().db.relax_durability(ep);
    return json{{"settings", s.ports().db.durability_settings(ep)}};
  };
  t.push_back(d);

  d = {};
  d.name = step::upgrade;
  d.phase = Phase::window;
  d.operations = {"cutover", "rehearse"};
  d.required = true;
  d.after = {step::start_green, "relax-durability"};
  d.what = "admin/cli/upgrade.php --non-interactive --lang=en on green";
  d.run = [](Site& s, StepContext& c, core::StepRun&) { return upgrade(s, c); };
  t.push_back(d);

  d = {};
  d.name = "purge-caches";
  d.phase = Phase::window;
  d.operations = {"cutover", "rehearse"};
  d.after = {step::upgrade};
  d.applies = [](const core::SiteConfig& cfg) { return cfg.purge_caches_after_upgrade; };
  d.what = "admin/cli/purge_caches.php on green (only with upgrade.purge_caches: upgrade.php purges and builds the theme itself)";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    s.cli(c.green).purge_caches();
    return json::object();
  };
  t.push_back(d);

  d = {};
  d.name = "settings";
  d.phase = Phase::window;
  d.operations = {"cutover", "rehearse"};
  d.after = {step::upgrade};
  d.applies = [](const core::SiteConfig& cfg) { return !cfg.after_upgrade_settings.empty(); };
  d.what = "the site's settings for the new release (cfg.php)";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    auto cli = s.cli(c.green);
    for (const auto& [name, value] : s.config().after_upgrade_settings) cli.cfg_set(name, value);
    return json::object();
  };
  t.push_back(d);

  d = {};
  d.name = "checks";
  d.phase = Phase::window;
  d.operations = {"cutover", "rehearse"};
  d.after = {step::upgrade, "settings"};
  d.what = "checks.php --filter=upgradecheck and check_database_schema.php on green (differences blue already had: a warning; extra columns a plugin added: listed; others fail); "
           "in a cutover, skipped when a rehearsal of the same code passed them on a copy of today's live set (within a day)";
  d.run = [](Site& s, StepContext& c, core::StepRun&) { return checks(s, c); };
  t.push_back(d);

  d = {};
  d.name = "restore-durability";
  d.phase = Phase::window;
  d.operations = {"cutover", "rehearse"};
  d.required = true;
  d.after = {step::upgrade, "relax-durability", "purge-caches", "settings", "checks"};
  d.applies = [](const core::SiteConfig& cfg) { return cfg.db.relaxed_durability; };
  d.what = "green's DB back to full durability; checkpoint and syncfs so every upgrade write is on disk (green's first, cold page rendered meanwhile "
           "unless it comes after the switch)";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    auto ep = s.db_endpoint(c.green);
    // The checkpoint is I/O, the page CPU. The sync comes after the page, so whatever the page
    // wrote is on disk too.
    std::optional<FirstPage> page;
    if (!first_page_after_switch(c)) page.emplace(s, c.green);
    auto t0 = std::chrono::steady_clock::now();
    s.ports().db.restore_durability(ep);
    json out{{"restore_s", seconds(std::chrono::steady_clock::now() - t0)}};
    if (page) out["first_page_s"] = page->wait_s();
    s.ports().storage.sync(s.paths(c.green).db);
    out["settings"] = s.ports().db.durability_settings(ep);
    return out;
  };
  t.push_back(d);

  d = {};
  d.name = "health-check";
  d.phase = Phase::window;
  d.operations = {"cutover", "rehearse"};
  d.required = true;
  d.after = {step::upgrade, "green-maintenance-off", "restore-durability"};
  d.what = "GET /login/index.php straight at green with the public Host (after the switch instead, as green-first-page, when the "
           "rehearsal proved the checks)";
  d.what_in_rehearsal = "GET /login/index.php straight at the clone with the clone's Host";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    if (first_page_after_switch(c))
      return json{{"after_switch", "proven by the rehearsal of " + c.facts.value("checks_proven_by", std::string("?")) +
                                       ": green's first page comes right after the switch, and its failure switches back"}};
    s.wait_web_answering(c.green);  // the first page when nothing rendered one before
    s.health_check(c.green);
    return json::object();
  };
  t.push_back(d);

  d = {};
  d.name = step::switch_proxy;
  d.phase = Phase::window;
  d.operations = {"cutover"};
  d.required = true;
  d.point_of_no_return = true;
  // Undone first when green's first page fails after it: users go back to blue before anything
  // else is undone.
  d.restores_service = true;
  d.after = {"health-check", "restore-durability", "checks", step::upgrade};
  d.what = "proxy sends new requests to green; confirmed through the public URL";
  d.undo_what = "switch back to blue, unless green already holds users' writes";
  d.run = [](Site& s, StepContext& c, core::StepRun& r) {
    c.watermark = s.ports().db.watermark(s.db_endpoint(c.green));  // green's marks before any user reaches it
    r.remember({{"watermark", c.watermark}});
    auto report = s.proxy()->switch_to(s.backend(c.green));
    return json{{"watermark", c.watermark}, {"switch_ms", std::chrono::duration<double, std::milli>(report.switched).count()},
                {"confirm_ms", std::chrono::duration<double, std::milli>(report.confirmed).count()}};
  };
  // Runs after a crash mid-switch too: the proxy may serve green already, so the write guard first.
  // Undone before hold-traffic (which starts a proxy that stopped in the window): it starts it too.
  d.undo = [](Site& s, StepContext& c, const json& data) {
    s.ensure_proxy_running();
    refuse_if_green_has_writes(s, c, data.value("watermark", json::object()));
    s.proxy()->switch_to(s.backend(c.blue));
  };
  t.push_back(d);

  d = {};
  d.name = step::green_first_page;
  d.phase = Phase::after;
  d.operations = {"cutover"};
  d.required = true;
  d.verifies_switch = true;
  d.after = {step::switch_proxy};
  d.what = "when the health check waited for the switch: GET /login/index.php straight at green, which now serves (cold: upgrade.php "
           "purged every cache); a failure undoes the cutover, the switch first (unless green already holds users' writes)";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    if (!first_page_after_switch(c)) return json{{"skipped", "the health check ran in the window"}};
    auto t0 = std::chrono::steady_clock::now();
    s.wait_web_answering(c.green);
    s.health_check(c.green);
    return json{{"first_page_s", seconds(std::chrono::steady_clock::now() - t0)}};
  };
  t.push_back(d);
}

}  // namespace mupgrade::ops
