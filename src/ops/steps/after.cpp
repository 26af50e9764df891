// Steps after the window: green serves (cutover) or the clone is judged and removed (rehearse).

#include "mupgrade/ops/plans.hpp"

#include <fmt/format.h>

namespace mupgrade::ops {

using core::Phase;
using nlohmann::json;

namespace {

json check(const std::string& name, bool ok, const std::string& detail) { return {{"check", name}, {"ok", ok}, {"detail", detail}}; }

// What makes the clone harmless, checked on the running clone (not assumed from config.php).
json isolation_checks(Site& site, const StepContext& ctx) {
  auto& containers = site.ports().containers;
  json out = json::array();
  auto cli = site.cli(ctx.green);
  auto noemail = cli.cfg_get("noemailever").value_or("");
  out.push_back(check("no email", noemail == "1" || noemail == "true", "noemailever=" + noemail));
  auto cron = cli.cfg_get("cron_enabled").value_or("");
  out.push_back(check("cron off", cron == "0" || cron.empty() || cron == "false", "cron_enabled=" + cron));
  auto www = cli.cfg_get("wwwroot").value_or("");
  out.push_back(check("not production's wwwroot", www == site.clone_url(), "wwwroot=" + www));
  auto net = containers.network(site.set_network(ctx.green));
  bool internal = net && net->internal;
  out.push_back(check("no route out", internal, site.set_network(ctx.green) + (internal ? " is internal" : " is NOT internal")));
  for (const auto& c : {site.web_container(ctx.green), site.db_container(ctx.green)}) {
    auto info = containers.inspect_container(c);
    bool alone = info && info->host_ports.empty() && info->network_ips.size() == 1 && info->network_ips.count(site.set_network(ctx.green));
    out.push_back(check("unreachable from outside", alone, c + (alone ? ": no published port, only on the clone's network" : ": published or on another network")));
  }
  return out;
}

// Smoke test of the upgraded clone: pages, files in filedir, the release in the DB.
json smoke_test(Site& site, const StepContext& ctx) {
  json out = json::array();
  auto login = site.get(ctx.green, "/login/index.php");
  out.push_back(check("login page", login.status == 200, fmt::format("HTTP {}", login.status)));
  auto& db = site.ports().db;
  auto ep = site.db_endpoint(ctx.green);
  if (auto course = db.first_course(ep)) {
    auto r = site.get(ctx.green, fmt::format("/course/view.php?id={}", *course));
    // Without a session real Moodle answers a course page with a redirect to the login page.
    bool ok = r.status == 200 || (r.status / 100 == 3 && r.headers["location"].find("/login/") != std::string::npos);
    out.push_back(check("course page", ok, fmt::format("course {}: HTTP {}{}", *course, r.status, r.status / 100 == 3 ? " to " + r.headers["location"] : "")));
  } else {
    out.push_back(check("course page", true, "the site has no course besides the front page"));
  }
  auto files = db.newest_files(ep, 3);
  if (files.empty()) out.push_back(check("file in filedir", true, "no user files in mdl_files to check"));
  for (const auto& f : files) {
    std::string rel = "/filedir/" + f.contenthash.substr(0, 2) + "/" + f.contenthash.substr(2, 2) + "/" + f.contenthash;
    // The content, read by the web container's user, must hash to its name and have its size.
    ports::ExecOptions o;
    o.cmd = {"sh", "-c", "stat -c %s \"$0\" && sha1sum \"$0\"", core::kContainerMoodledata + rel};
    o.user = "www-data";
    o.timeout = std::chrono::seconds(60);
    auto r = site.ports().containers.exec(site.web_container(ctx.green), o);
    std::string size = r.out.substr(0, r.out.find('\n'));
    std::string hash = r.out.find('\n') == std::string::npos ? "" : r.out.substr(r.out.find('\n') + 1, 40);
    bool ok = r.exit_code == 0 && size == std::to_string(f.size) && hash == f.contenthash;
    out.push_back(check("file in filedir", ok,
                        fmt::format("{} ({} bytes){}", rel, r.exit_code == 0 ? size : "missing", ok || r.exit_code != 0 ? "" : ": size or content does not match")));
  }
  auto target = site.code_version(ctx.target_code);
  auto release = db.config_value(ep, "release").value_or("");
  out.push_back(check("release in the DB", release == target.release, release));
  for (const auto& p : site.config().rehearse.smoke_paths) {
    auto r = site.get(ctx.green, p);
    out.push_back(check("GET " + p, r.status == 200, fmt::format("HTTP {}, {} bytes", r.status, r.body.size())));
  }
  return out;
}

void throw_on_failed_checks(const json& checks, const char* what) {
  std::string failed;
  for (const auto& c : checks)
    if (!c.value("ok", false)) failed += (failed.empty() ? "" : "; ") + c.value("check", "") + " (" + c.value("detail", "") + ")";
  if (!failed.empty()) throw Error(fmt::format("{} failed: {}", what, failed));
}

}  // namespace

void remove_clone(Site& site, const std::string& clone) {
  if (!is_clone(clone)) throw Error(fmt::format("{} is not a rehearsal clone", clone));
  site.remove_set(clone);
}

void add_after_steps(std::vector<StepDef>& t) {
  StepDef d;
  d = {};
  d.name = "cron-on";
  d.phase = Phase::after;
  d.operations = {"cutover"};
  d.after = {step::switch_proxy, step::green_first_page};
  d.what = "cron.php --enable on green";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    s.cli(c.green).cron_enable();
    return json::object();
  };
  t.push_back(d);

  d = {};
  d.name = "record";
  d.phase = Phase::after;
  d.operations = {"cutover"};
  d.required = true;
  d.after = {step::switch_proxy, step::green_first_page};
  d.what = "site.json: green live, blue the rollback target (idle, in maintenance)";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    core::SiteState st;
    st.live_set = c.green;
    st.rollback_set = c.blue;
    st.live_release = s.db_config_value(c.green, "release");
    st.cutover_at = core::utc_now_iso();
    st.watermark = c.watermark.empty() ? s.ports().db.watermark(s.db_endpoint(c.green)) : c.watermark;
    s.save_state(st);
    return json{{"watermark", st.watermark}};
  };
  t.push_back(d);

  d = {};
  d.name = "smoke-test";
  d.phase = Phase::after;
  d.operations = {"rehearse"};
  d.after = {"health-check"};
  d.what = "clone isolated (no email, cron off, no route out); login page, a course page, files in filedir, release in the DB";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    c.facts["isolation"] = isolation_checks(s, c);
    c.facts["smoke"] = smoke_test(s, c);
    throw_on_failed_checks(c.facts["isolation"], "clone isolation");
    throw_on_failed_checks(c.facts["smoke"], "smoke test");
    return json{{"isolation", c.facts["isolation"]}, {"smoke", c.facts["smoke"]}};
  };
  t.push_back(d);

  d = {};
  d.name = "keep-opcache";
  d.phase = Phase::after;
  d.operations = {"rehearse"};
  d.after = {"health-check", "smoke-test"};
  d.what = "keep the OPcache file cache the clone's Apache filled (a snapshot under <pool>/opcache, keyed by the code and image): the next "
           "cutover on the same code starts green from it";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    std::string kept = s.keep_opcache(c.green, s.config().target_image);
    if (kept.empty()) return json{{"skipped", "the clone has no OPcache file cache"}};
    return json{{"kept", kept}};
  };
  t.push_back(d);

  d = {};
  d.name = "teardown";
  d.phase = Phase::after;
  d.operations = {"rehearse"};
  d.required = true;
  d.after = {"health-check", "smoke-test", "keep-opcache"};
  d.what = "remove the clone (containers, network, subvolumes), or keep it stopped with --keep";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    if (c.remove_failed_green) remove_clone(s, c.green);
    else s.stop_set(c.green);
    return json::object();
  };
  t.push_back(d);
}

}  // namespace mupgrade::ops
