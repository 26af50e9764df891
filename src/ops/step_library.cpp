// The built-in steps of cutover and rehearse (a rehearsal runs the cutover's steps on an
// isolated clone), ordered by their playbooks (playbooks/*.yml) with the site's own steps.

#include "mupgrade/ops/plans.hpp"

#include "mupgrade/btrfs/btrfs.hpp"
#include "mupgrade/config/playbook_load.hpp"
#include "mupgrade/core/moodle_version.hpp"
#include "mupgrade/core/playbook.hpp"
#include "mupgrade/db/durability.hpp"
#include "mupgrade/process/run.hpp"
#include "site_steps.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>

namespace mupgrade::ops {

namespace fs = std::filesystem;
using core::Phase;
using core::Step;
using nlohmann::json;

json CutoverContext::to_json() const {
  return {{"operation", operation}, {"blue", blue}, {"green", green}, {"target_code", target_code}, {"remove_failed_green", remove_failed_green}};
}

CutoverContext CutoverContext::from_json(const json& j) {
  CutoverContext c;
  c.operation = j.value("operation", "cutover");
  c.blue = j.value("blue", "");
  c.green = j.value("green", "");
  c.target_code = j.value("target_code", "");
  c.remove_failed_green = j.value("remove_failed_green", false);
  return c;
}

namespace {

void delete_if_subvolume(const std::string& path) {
  if (btrfs::is_subvolume(path)) btrfs::delete_subvolume(path);
}

// Green's code: a snapshot when the release is a subvolume (constant time), else a copy;
// then the site's own config.php from blue (dbhost 'db' resolves inside each set's network).
void prepare_code(Site& site, const CutoverContext& ctx) {
  auto green = site.paths(ctx.green), blue = site.paths(ctx.blue);
  fs::create_directories(green.dir);
  if (btrfs::is_subvolume(ctx.target_code)) {
    btrfs::snapshot(ctx.target_code, green.code);
  } else {
    // cp shares the extents (reflink) when the tree is on the same btrfs, and keeps owners and modes.
    btrfs::create_subvolume(green.code);
    auto r = process::run({"/bin/cp", "-a", "--reflink=auto", ctx.target_code + "/.", green.code + "/"}, {}, std::chrono::seconds(1800));
    if (r.exit_code != 0)
      throw Error(fmt::format("copying {} into {} failed: {}", ctx.target_code, green.code, r.output.substr(0, r.output.find('\n'))),
                  "check the target tree and the free space in the pool");
  }
  std::string from = blue.code + "/config.php", to = green.code + "/config.php";
  if (!fs::exists(to)) {
    fs::copy_file(from, to);
    struct stat st {};
    // It holds the DB password: keep its owner, group and mode exactly.
    if (::stat(from.c_str(), &st) != 0 || ::chown(to.c_str(), st.st_uid, st.st_gid) != 0 || ::chmod(to.c_str(), st.st_mode & 07777) != 0)
      throw Error(fmt::format("cannot give {} the owner and mode of {}", to, from));
  }
}

// Runs `upgrade.php --is-pending` with the target code against blue's DB, in a throwaway
// container over a snapshot of blue's moodledata: the contract's own answer, before the window.
json verify_target(Site& site, const CutoverContext& ctx) {
  auto& engine = site.engine();
  const auto& cfg = site.config();
  std::string scratch = site.paths(ctx.green).dir + "/verify-moodledata";
  std::string name = site.web_container(ctx.green) + "-verify";
  delete_if_subvolume(scratch);
  btrfs::snapshot(site.paths(ctx.blue).moodledata, scratch);
  if (engine.inspect_container(name)) engine.remove_container(name, true);
  docker::ContainerSpec spec;
  spec.name = name;
  spec.image = cfg.target_image;
  spec.labels = {{"mupgrade.site", cfg.site}, {"mupgrade.set", ctx.green}, {"mupgrade.role", "verify"}};
  spec.network = site.set_network(ctx.blue);
  spec.mounts = {{site.paths(ctx.green).code, "/var/www/moodle", true}, {scratch, "/var/www/moodledata", false}};
  spec.entrypoint = {"sleep", "600"};
  engine.create_container(spec);
  moodle::PendingState pending;
  try {
    engine.start_container(name);
    bool pub = fs::exists(site.paths(ctx.green).code + "/public/version.php");
    moodle::MoodleCli cli(engine, name, moodle::CodeLayout{"/var/www/moodle", pub});
    pending = cli.upgrade_pending();
  } catch (...) {
    engine.remove_container(name, true);
    delete_if_subvolume(scratch);
    throw;
  }
  engine.remove_container(name, true);
  delete_if_subvolume(scratch);
  if (pending == moodle::PendingState::downgrade_refused)
    throw Error("the target code is OLDER than the version that made the live DB (Moodle refuses downgrades)",
                "pick a newer release as the target");
  if (pending == moodle::PendingState::up_to_date)
    throw Error("the target code needs no upgrade of the live DB (same versions)", "pick a newer release as the target");
  return {{"pending", true}};
}

// The clone's config.php: production's, with a block before the bootstrap line that makes it
// a clone: its own wwwroot, no email ever, cron off. Settings in config.php override the DB.
void isolate_clone(Site& site, const CutoverContext& ctx) {
  std::string path = site.paths(ctx.green).code + "/config.php";
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  auto at = text.find("/lib/setup.php");
  if (at == std::string::npos || (at = text.rfind("require", at)) == std::string::npos)
    throw Error(fmt::format("{} has no require_once of lib/setup.php (Moodle's config.php ends with it)", path),
                "check the live set's config.php");
  at = text.rfind('\n', at) == std::string::npos ? 0 : text.rfind('\n', at) + 1;
  std::string block = fmt::format(
      "// mupgrade rehearsal clone {} of site {}: NOT production. Added by 'mupgrade rehearse'.\n"
      "$CFG->wwwroot = '{}';\n$CFG->noemailever = true;\n$CFG->cron_enabled = 0;\n",
      ctx.green, site.config().site, site.clone_url());
  text.insert(at, block);
  std::string tmp = path + ".mupgrade-tmp";
  {
    std::ofstream(tmp) << text;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || ::chown(tmp.c_str(), st.st_uid, st.st_gid) != 0 || ::chmod(tmp.c_str(), st.st_mode & 07777) != 0)
    throw Error(fmt::format("cannot give {} the owner and mode of {}", tmp, path));
  fs::rename(tmp, path);
}

json check(const std::string& name, bool ok, const std::string& detail) { return {{"check", name}, {"ok", ok}, {"detail", detail}}; }

// What makes the clone harmless, checked on the running clone (not assumed from config.php).
json isolation_checks(Site& site, const CutoverContext& ctx) {
  auto& e = site.engine();
  json out = json::array();
  auto cli = site.cli(ctx.green);
  auto noemail = cli.cfg_get("noemailever").value_or("");
  out.push_back(check("no email", noemail == "1" || noemail == "true", "noemailever=" + noemail));
  auto cron = cli.cfg_get("cron_enabled").value_or("");
  out.push_back(check("cron off", cron == "0" || cron.empty() || cron == "false", "cron_enabled=" + cron));
  auto www = cli.cfg_get("wwwroot").value_or("");
  out.push_back(check("not production's wwwroot", www == site.clone_url(), "wwwroot=" + www));
  auto net = e.inspect_network(site.set_network(ctx.green));
  bool internal = net && net->value("Internal", false);
  out.push_back(check("no route out", internal, site.set_network(ctx.green) + (internal ? " is internal" : " is NOT internal")));
  for (const auto& c : {site.web_container(ctx.green), site.db_container(ctx.green)}) {
    auto info = e.inspect_container(c);
    bool alone = info && info->host_ports.empty() && info->network_ips.size() == 1 && info->network_ips.count(site.set_network(ctx.green));
    out.push_back(check("unreachable from outside", alone, c + (alone ? ": no published port, only on the clone's network" : ": published or on another network")));
  }
  return out;
}

// Smoke test of the upgraded clone: pages, files in filedir, the release in the DB.
json smoke_test(Site& site, const CutoverContext& ctx) {
  json out = json::array();
  auto login = site.get(ctx.green, "/login/index.php");
  out.push_back(check("login page", login.status == 200, fmt::format("HTTP {}", login.status)));
  auto conn = db::connect(site.db_endpoint(ctx.green));
  if (auto course = conn->scalar("SELECT MIN(id) FROM mdl_course WHERE id > 1"); course && !course->empty()) {
    auto r = site.get(ctx.green, "/course/view.php?id=" + *course);
    // Without a session real Moodle answers a course page with a redirect to the login page.
    bool ok = r.status == 200 || (r.status / 100 == 3 && r.headers["location"].find("/login/") != std::string::npos);
    out.push_back(check("course page", ok, fmt::format("course {}: HTTP {}{}", *course, r.status, r.status / 100 == 3 ? " to " + r.headers["location"] : "")));
  } else {
    out.push_back(check("course page", true, "the site has no course besides the front page"));
  }
  auto files = conn->query("SELECT contenthash, filesize FROM mdl_files WHERE filename <> '.' AND filesize > 0 ORDER BY id DESC LIMIT 3");
  if (files.empty()) out.push_back(check("file in filedir", true, "no user files in mdl_files to check"));
  for (const auto& row : files) {
    std::string hash = row[0].value_or(""), rel = "/filedir/" + hash.substr(0, 2) + "/" + hash.substr(2, 2) + "/" + hash;
    std::error_code ec;
    auto size = fs::file_size(site.paths(ctx.green).moodledata + rel, ec);
    bool ok = !ec && std::to_string(size) == row[1].value_or("");
    std::string detail = fmt::format("{} ({} bytes)", rel, ec ? "missing" : std::to_string(size));
    if (ok) {  // the content, read by the web container's user, hashes to its name
      docker::ExecOptions o;
      o.cmd = {"sha1sum", "/var/www/moodledata" + rel};
      o.user = "www-data";
      auto r = site.engine().exec(site.web_container(ctx.green), o);
      ok = r.exit_code == 0 && r.out.substr(0, 40) == hash;
      if (!ok) detail += ": content does not match its hash";
    }
    out.push_back(check("file in filedir", ok, detail));
  }
  auto target = site.code_version(ctx.target_code);
  auto release = conn->scalar("SELECT value FROM mdl_config WHERE name = 'release'").value_or("");
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

// Ordering rules the tool enforces on any playbook (its own or a site's).
core::StepRules cutover_rules(bool rehearsal) {
  core::StepRules r;
  auto rule = [&](const char* name, bool required, std::vector<std::string> after) { r[name] = {required, std::move(after)}; };
  rule("prepare-code", true, {});
  rule("verify-target", false, {"prepare-code"});
  rule("db-prepare", false, {});
  rule("sync", false, {});
  rule("snapshot", true, {"db-prepare", "sync", "maintenance-on", "watermark", "drain-cron"});
  rule("create-green", false, {"prepare-code", "verify-target", "isolate-clone"});
  rule("start-green", true, {"snapshot", "prepare-code", "isolate-clone", "create-green"});
  rule("green-maintenance-off", false, {"start-green"});
  rule("relax-durability", false, {"start-green"});
  rule("upgrade", true, {"start-green", "relax-durability"});
  rule("purge-caches", false, {"upgrade"});
  rule("settings", false, {"upgrade"});
  rule("checks", false, {"upgrade", "settings"});
  rule("restore-durability", true, {"upgrade", "relax-durability", "purge-caches", "settings", "checks"});
  rule("health-check", true, {"upgrade", "green-maintenance-off", "restore-durability"});
  if (rehearsal) {
    rule("isolate-clone", true, {"prepare-code"});
    rule("smoke-test", false, {"health-check"});
    rule("teardown", true, {"health-check", "smoke-test"});
  } else {
    rule("drain-cron", false, {});
    rule("maintenance-on", true, {});
    rule("watermark", false, {"maintenance-on"});
    rule("switch-proxy", true, {"health-check", "restore-durability", "checks", "upgrade"});
    rule("cron-on", false, {"switch-proxy"});
    rule("record", true, {"switch-proxy"});
  }
  return r;
}

struct Library {
  std::map<std::string, Step> steps;
  Step& add(std::string name, Phase phase, std::string what, std::string undo_what, std::function<json()> run,
            std::function<void()> undo = {}) {
    Step st;
    st.name = name;
    st.phase = phase;
    st.what = std::move(what);
    st.undo_what = std::move(undo_what);
    st.run = std::move(run);
    st.undo = std::move(undo);
    return steps[name] = std::move(st);
  }
};

// The playbook's order; site steps take the phase of their anchor. A playbook step missing
// from the library does not apply to this site (e.g. relax-durability when it is off).
std::vector<Step> order_by_playbook(Site& site, CutoverContext* ctx, const std::string& operation, Library lib, const core::StepRules& rules) {
  const auto& cfg = site.config();
  auto pb = config::load_playbook(operation, cfg.playbooks_dir);
  std::vector<Step> steps;
  for (const auto& p : core::compose_plan(pb, rules, cfg.steps)) {
    if (p.site_step >= 0) {
      const auto& ss = cfg.steps[size_t(p.site_step)];
      auto anchor = lib.steps.find(ss.anchor);
      steps.push_back(make_site_step(site, *ctx, ss, anchor == lib.steps.end() ? Phase::window : anchor->second.phase));
    } else if (auto it = lib.steps.find(p.name); it != lib.steps.end()) {
      steps.push_back(it->second);
    }
  }
  return steps;
}

Library shared_steps(Site& site, CutoverContext& ctx) {
  const auto& cfg = site.config();
  Site* s = &site;
  CutoverContext* c = &ctx;
  Library lib;
  bool rehearsal = ctx.rehearsal();
  std::string keep_or_delete = c->remove_failed_green ? "delete it" : "keep it for diagnosis";

  lib.add("prepare-code", Phase::prepare, "lay out the target code as green's code subvolume, with the site's config.php", keep_or_delete,
      [s, c] { prepare_code(*s, *c); return json{{"code", s->paths(c->green).code}}; },
      [s, c] {
        if (!c->remove_failed_green) return;
        delete_if_subvolume(s->paths(c->green).code);
        std::error_code ec;
        fs::remove(s->paths(c->green).dir, ec);  // only when empty
      });
  lib.add("verify-target", Phase::prepare, "upgrade.php --is-pending with the target code against blue's DB (throwaway container)", "",
      [s, c] { return verify_target(*s, *c); });
  lib.add("db-prepare", Phase::prepare, "have blue's DB write out dirty pages (short freeze, short crash recovery)", "restore its settings",
      [s, c] {
        c->freezer = db::make_freezer(s->db_endpoint(c->blue));
        c->freezer->prepare();
        c->blue_release = s->db_config_value(c->blue, "release");
        return json{{"blue_release", c->blue_release}};
      },
      [s, c] { (c->freezer ? c->freezer : db::make_freezer(s->db_endpoint(c->blue)))->release(); });
  lib.add("sync", Phase::prepare, "flush the pool's dirty data so the snapshots take milliseconds", "",
      [s] { btrfs::sync(s->config().pool); return json::object(); });
  lib.add("snapshot", Phase::window,
      rehearsal ? "freeze production's DB for the snapshot instant, snapshot db + moodledata into the clone"
                : "freeze blue's DB, snapshot db + moodledata into green, unfreeze",
      c->remove_failed_green ? "delete green's snapshots" : "keep them for diagnosis",
      [s, c] {
        auto green = s->paths(c->green), blue = s->paths(c->blue);
        fs::create_directories(green.dir);
        if (!c->freezer) c->freezer = db::make_freezer(s->db_endpoint(c->blue));
        btrfs::sync(blue.dir);
        auto report = c->freezer->freeze([&] {
          btrfs::snapshot(blue.db, green.db);
          btrfs::snapshot(blue.moodledata, green.moodledata);
        });
        c->freezer->release();
        double held = std::chrono::duration<double, std::milli>(report.held).count();
        c->facts["freeze_ms"] = held;
        return json{{"freeze", report.method}, {"held_ms", held}};
      },
      [s, c] {
        if (!c->remove_failed_green) return;
        delete_if_subvolume(s->paths(c->green).db);
        delete_if_subvolume(s->paths(c->green).moodledata);
      });
  lib.add("create-green", Phase::prepare,
      rehearsal ? "create the clone's internal network and its DB and web containers (started in the window)"
                : "create green's network and its DB and web containers, not started: the window only starts them",
      "remove them unless green holds data to diagnose",
      [s, c, &cfg] {
        s->create_containers(c->green, cfg.target_image);
        return json::object();
      },
      [s, c] {
        // Before the snapshot green has nothing to diagnose; its containers only point at paths
        // that do not exist, so they go.
        if (c->remove_failed_green || !fs::exists(s->paths(c->green).db)) s->remove_containers(c->green);
      });
  lib.add("start-green", Phase::window,
      rehearsal ? "start the clone's DB and web containers on an internal network (no route out, nothing published)"
                : "start green's DB and web containers on the snapshots, with the target image",
      c->remove_failed_green ? "remove them" : "stop them (kept)",
      [s, c, &cfg] {
        auto t = s->start_set(c->green, cfg.target_image);
        return json{{"db_ready_s", std::chrono::duration<double>(t.db_ready).count()},
                    {"web_ready_s", std::chrono::duration<double>(t.web_ready).count()}};
      },
      [s, c] {
        if (c->remove_failed_green) s->remove_containers(c->green);
        else s->stop_set(c->green);
      });
  lib.add("green-maintenance-off", Phase::window, "remove the maintenance file from green (not public yet)", "",
      [s, c] { s->maintenance_file(c->green, false); return json::object(); });
  if (cfg.db.relaxed_durability) {
    lib.add("relax-durability", Phase::window, "green's DB commits without waiting for fsync (a throwaway copy until the switch)", "",
        [s, c] {
          db::relax_durability(s->db_endpoint(c->green));
          return json{{"settings", db::durability_settings(s->db_endpoint(c->green))}};
        });
    lib.add("restore-durability", Phase::window, "green's DB back to full durability; checkpoint and syncfs so every upgrade write is on disk", "",
        [s, c] {
          db::restore_durability(s->db_endpoint(c->green));
          btrfs::sync(s->paths(c->green).db);
          return json{{"settings", db::durability_settings(s->db_endpoint(c->green))}};
        });
  }
  lib.add("upgrade", Phase::window, "admin/cli/upgrade.php --non-interactive --lang=en on green", "",
      [s, c, &cfg] {
        std::string last;
        auto result = s->cli(c->green).upgrade(
            [&](const moodle::UpgradeProgress& p) {
              if (p.component != last) {
                last = p.component;
                *c->out << fmt::format("\n          {:>7.1f} s  {}", std::chrono::duration<double>(p.elapsed).count(), p.component) << std::flush;
              }
            },
            std::chrono::seconds(cfg.upgrade_timeout_s));
        if (!last.empty()) *c->out << "\n" << fmt::format("{:<41}", "") << std::flush;
        std::string log = s->save_log(c->green + "-upgrade.log", result.output);
        c->facts["upgrade_log"] = log;
        c->facts["upgrade_s"] = std::chrono::duration<double>(result.duration).count();
        if (!result.ok) {
          std::string why = result.summary.environment_failed ? "environment check failed: " + result.summary.environment_problems
                                                              : result.summary.error;
          std::string component = result.summary.last_component.empty() ? "core" : result.summary.last_component;
          c->facts["failed_component"] = component;
          throw Error(fmt::format("upgrade.php failed in {} ({}); log: {}", component, why, log),
                      c->rehearsal() ? "fix the cause (a plugin, the image, a setting) before the real cutover"
                                     : "green is kept as it stopped: inspect it, fix the cause, and run cutover again");
        }
        return json{{"upgrade_s", c->facts["upgrade_s"]}, {"log", log}, {"to", result.summary.to_release}};
      });
  lib.add("purge-caches", Phase::window, "admin/cli/purge_caches.php on green", "",
      [s, c] { s->cli(c->green).purge_caches(); return json::object(); });
  if (!cfg.after_upgrade_settings.empty())
    lib.add("settings", Phase::window, "the site's settings for the new release (cfg.php)", "",
        [s, c, &cfg] {
          auto cli = s->cli(c->green);
          for (const auto& [name, value] : cfg.after_upgrade_settings) cli.cfg_set(name, value);
          return json::object();
        });
  lib.add("checks", Phase::window, "checks.php --filter=upgradecheck and check_database_schema.php on green", "",
      [s, c] {
        // Both only read; run at once they cost the window one PHP run instead of two.
        auto schema = std::async(std::launch::async, [s, c] { return s->cli(c->green).schema_differences(); });
        auto chk = s->cli(c->green).checks("upgradecheck");
        auto diff = schema.get();
        if (chk.level == moodle::CheckLevel::critical || chk.level == moodle::CheckLevel::unknown)
          throw Error("green fails Moodle's upgrade check: " + chk.output.substr(0, chk.output.find('\n')));
        if (diff) throw Error("green's DB schema differs from its code: " + diff->substr(0, 200));
        return json::object();
      });
  lib.add("health-check", Phase::window,
      rehearsal ? "GET /login/index.php straight at the clone with the clone's Host" : "GET /login/index.php straight at green with the public Host", "",
      [s, c] { s->health_check(c->green); return json::object(); });
  return lib;
}

}  // namespace

void remove_clone(Site& site, const std::string& clone) {
  if (!is_clone(clone)) throw Error(fmt::format("{} is not a rehearsal clone", clone));
  site.remove_set(clone);
}

std::vector<Step> cutover_steps(Site& site, CutoverContext& ctx) {
  Site* s = &site;
  CutoverContext* c = &ctx;
  auto lib = shared_steps(site, ctx);
  const auto& cfg = site.config();
  lib.add("drain-cron", Phase::prepare, "cron.php --disable-wait on blue: running tasks finish, no new ones", "cron.php --enable on blue",
      [s, c, &cfg] {
        if (!s->cli(c->blue).cron_disable_wait(std::chrono::seconds(cfg.cron_drain_timeout_s)))
          throw Error(fmt::format("cron tasks on blue did not stop within {} s", cfg.cron_drain_timeout_s), "retry later, or raise upgrade.cron_drain_timeout_s");
        return json::object();
      },
      [s, c] { s->cli(c->blue).cron_enable(); });
  lib.add("maintenance-on", Phase::window, "CLI maintenance on blue (climaintenance.html: every request gets 503)", "remove it",
      [s, c] { s->maintenance_file(c->blue, true); return json::object(); },
      [s, c] { s->maintenance_file(c->blue, false); });
  lib.add("watermark", Phase::window, "record blue's write high-water marks (logstore and content tables)", "",
      [s, c] { c->watermark = s->watermark(c->blue); return json{{"watermark", c->watermark}}; });
  Step& sw = lib.add("switch-proxy", Phase::window, "proxy sends new requests to green; confirmed through the public URL", "switch back to blue",
      [s, c] {
        c->watermark = s->watermark(c->green);  // green's marks before any user reaches it
        auto report = s->proxy()->switch_to(s->backend(c->green));
        return json{{"watermark", c->watermark}, {"switch_ms", std::chrono::duration<double, std::milli>(report.switched).count()},
                    {"confirm_ms", std::chrono::duration<double, std::milli>(report.confirmed).count()}};
      },
      // Unconditional: after a crash the proxy's runtime state may differ from what it persisted.
      [s, c] { s->proxy()->switch_to(s->backend(c->blue)); });
  sw.point_of_no_return = true;
  lib.add("cron-on", Phase::after, "cron.php --enable on green", "",
      [s, c] { s->cli(c->green).cron_enable(); return json::object(); });
  lib.add("record", Phase::after, "site.json: green live, blue the rollback target (idle, in maintenance)", "",
      [s, c] {
        core::SiteState st;
        st.live_set = c->green;
        st.rollback_set = c->blue;
        st.live_release = s->db_config_value(c->green, "release");
        st.cutover_at = core::utc_now_iso();
        st.watermark = c->watermark.empty() ? s->watermark(c->green) : c->watermark;
        s->save_state(st);
        return json{{"watermark", st.watermark}};
      });
  return order_by_playbook(site, &ctx, "cutover", std::move(lib), cutover_rules(false));
}

std::vector<Step> rollback_steps(Site& site, const std::string& from, const std::string& to) {
  Site* s = &site;
  Library lib;
  auto add = [&](std::string name, Phase phase, std::string what, std::function<json()> run, std::function<void()> undo = {}) {
    lib.add(std::move(name), phase, std::move(what), "", std::move(run), std::move(undo));
  };
  add("maintenance-on", Phase::window, "CLI maintenance on " + from + " (no new writes there)",
      [s, from] { s->maintenance_file(from, true); return json::object(); },
      [s, from] { s->maintenance_file(from, false); });
  add("start-blue", Phase::window, "make sure " + to + "'s containers run",
      [s, to] {
        if (!s->web_running(to)) {
          auto t = s->start_set(to, s->engine().inspect_container(s->web_container(to))->image);
          return json{{"db_ready_s", std::chrono::duration<double>(t.db_ready).count()},
                      {"web_ready_s", std::chrono::duration<double>(t.web_ready).count()}};
        }
        return json::object();
      });
  add("blue-maintenance-off", Phase::window, "remove the maintenance file from " + to,
      [s, to] { s->maintenance_file(to, false); return json::object(); },
      [s, to] { s->maintenance_file(to, true); });
  lib.add("switch-proxy", Phase::window, "proxy sends new requests to " + to, "",
          [s, to] {
            auto r = s->proxy()->switch_to(s->backend(to));
            return json{{"switch_ms", std::chrono::duration<double, std::milli>(r.switched).count()}};
          }).point_of_no_return = true;
  add("cron", Phase::after, "cron.php --enable on " + to,
      [s, to] { s->cli(to).cron_enable(); return json::object(); });
  add("stop-green", Phase::after, "stop " + from + "'s containers (kept for inspection)",
      [s, from] { s->stop_set(from); return json::object(); });
  add("record", Phase::after, "site.json: " + to + " live, no rollback target",
      [s, to] {
        core::SiteState st;
        st.live_set = to;
        st.live_release = s->db_config_value(to, "release");
        st.cutover_at = core::utc_now_iso();
        s->save_state(st);
        return json::object();
      });
  core::StepRules rules;
  rules["maintenance-on"] = {false, {}};
  rules["start-blue"] = {true, {}};
  rules["blue-maintenance-off"] = {true, {"start-blue"}};
  rules["switch-proxy"] = {true, {"start-blue", "blue-maintenance-off", "maintenance-on"}};
  rules["cron"] = {false, {"switch-proxy"}};
  rules["stop-green"] = {false, {"switch-proxy"}};
  rules["record"] = {true, {"switch-proxy"}};
  return order_by_playbook(site, nullptr, "rollback", std::move(lib), rules);
}


std::vector<Step> rehearse_steps(Site& site, CutoverContext& ctx) {
  Site* s = &site;
  CutoverContext* c = &ctx;
  auto lib = shared_steps(site, ctx);
  lib.add("isolate-clone", Phase::prepare, "clone's config.php: its own wwwroot (" + site.clone_url() + "), noemailever, cron off", "",
      [s, c] { isolate_clone(*s, *c); return json{{"wwwroot", s->clone_url()}}; });
  lib.add("smoke-test", Phase::after, "clone isolated (no email, cron off, no route out); login page, a course page, files in filedir, release in the DB", "",
      [s, c] {
        c->facts["isolation"] = isolation_checks(*s, *c);
        c->facts["smoke"] = smoke_test(*s, *c);
        throw_on_failed_checks(c->facts["isolation"], "clone isolation");
        throw_on_failed_checks(c->facts["smoke"], "smoke test");
        return json{{"isolation", c->facts["isolation"]}, {"smoke", c->facts["smoke"]}};
      });
  lib.add("teardown", Phase::after, c->remove_failed_green ? "remove the clone (containers, network, subvolumes)" : "keep the clone (--keep), stopped", "",
      [s, c] {
        if (c->remove_failed_green) remove_clone(*s, c->green);
        else s->stop_set(c->green);
        return json::object();
      });
  return order_by_playbook(site, &ctx, "rehearse", std::move(lib), cutover_rules(true));
}

}  // namespace mupgrade::ops
