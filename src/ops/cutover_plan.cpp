#include "mupgrade/ops/plans.hpp"

#include "mupgrade/btrfs/btrfs.hpp"
#include "mupgrade/core/moodle_version.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace mupgrade::ops {

namespace fs = std::filesystem;
using core::Phase;
using core::Step;
using nlohmann::json;

json CutoverContext::to_json() const {
  return {{"blue", blue}, {"green", green}, {"target_code", target_code}, {"remove_failed_green", remove_failed_green}};
}

CutoverContext CutoverContext::from_json(const json& j) {
  CutoverContext c;
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
    btrfs::create_subvolume(green.code);
    fs::copy(ctx.target_code, green.code, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
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

std::string save_log(Site& site, const std::string& name, const std::string& text) {
  fs::create_directories(site.config().state_dir + "/logs");
  std::string path = site.config().state_dir + "/logs/" + name;
  std::ofstream(path) << text;
  return path;
}

}  // namespace

std::vector<Step> cutover_steps(Site& site, CutoverContext& ctx) {
  const auto& cfg = site.config();
  Site* s = &site;
  CutoverContext* c = &ctx;
  std::vector<Step> steps;
  auto add = [&](std::string name, Phase phase, std::string what, std::string undo_what,
                 std::function<json()> run, std::function<void()> undo = {}) {
    Step st;
    st.name = std::move(name);
    st.phase = phase;
    st.what = std::move(what);
    st.undo_what = std::move(undo_what);
    st.run = std::move(run);
    st.undo = std::move(undo);
    steps.push_back(std::move(st));
    return &steps.back();
  };

  add("prepare-code", Phase::prepare, "lay out the target code as green's code subvolume, with the site's config.php",
      c->remove_failed_green ? "delete it" : "keep it for diagnosis",
      [s, c] { prepare_code(*s, *c); return json{{"code", s->paths(c->green).code}}; },
      [s, c] { if (c->remove_failed_green) delete_if_subvolume(s->paths(c->green).code); });
  add("verify-target", Phase::prepare, "upgrade.php --is-pending with the target code against blue's DB (throwaway container)", "",
      [s, c] { return verify_target(*s, *c); });
  add("drain-cron", Phase::prepare, "cron.php --disable-wait on blue: running tasks finish, no new ones", "cron.php --enable on blue",
      [s, c, &cfg] {
        if (!s->cli(c->blue).cron_disable_wait(std::chrono::seconds(cfg.cron_drain_timeout_s)))
          throw Error(fmt::format("cron tasks on blue did not stop within {} s", cfg.cron_drain_timeout_s), "retry later, or raise upgrade.cron_drain_timeout_s");
        return json::object();
      },
      [s, c] { s->cli(c->blue).cron_enable(); });
  add("db-prepare", Phase::prepare, "have blue's DB write out dirty pages (short freeze, short crash recovery)", "restore its settings",
      [s, c] {
        c->freezer = db::make_freezer(s->db_endpoint(c->blue));
        c->freezer->prepare();
        c->blue_release = s->db_config_value(c->blue, "release");
        return json{{"blue_release", c->blue_release}};
      },
      [s, c] { (c->freezer ? c->freezer : db::make_freezer(s->db_endpoint(c->blue)))->release(); });
  add("sync", Phase::prepare, "flush the pool's dirty data so the snapshots take milliseconds", "",
      [s] { btrfs::sync(s->config().pool); return json::object(); });

  add("maintenance-on", Phase::window, "CLI maintenance on blue (climaintenance.html: every request gets 503)", "remove it",
      [s, c] { s->maintenance_file(c->blue, true); return json::object(); },
      [s, c] { s->maintenance_file(c->blue, false); });
  add("watermark", Phase::window, "record blue's write high-water marks (logstore and content tables)", "",
      [s, c] { c->watermark = s->watermark(c->blue); return json{{"watermark", c->watermark}}; });
  add("snapshot", Phase::window, "freeze blue's DB, snapshot db + moodledata into green, unfreeze",
      c->remove_failed_green ? "delete green's snapshots" : "keep them for diagnosis",
      [s, c] {
        auto green = s->paths(c->green), blue = s->paths(c->blue);
        if (!c->freezer) c->freezer = db::make_freezer(s->db_endpoint(c->blue));
        btrfs::sync(blue.dir);
        auto report = c->freezer->freeze([&] {
          btrfs::snapshot(blue.db, green.db);
          btrfs::snapshot(blue.moodledata, green.moodledata);
        });
        c->freezer->release();
        return json{{"freeze", report.method}, {"held_ms", std::chrono::duration<double, std::milli>(report.held).count()}};
      },
      [s, c] {
        if (!c->remove_failed_green) return;
        delete_if_subvolume(s->paths(c->green).db);
        delete_if_subvolume(s->paths(c->green).moodledata);
      });
  add("start-green", Phase::window, "start green's DB and web containers on the snapshots, with the target image", "stop them (kept)",
      [s, c, &cfg] {
        s->start_db(c->green);
        s->start_web(c->green, cfg.target_image);
        return json::object();
      },
      [s, c] {
        s->stop_set(c->green);
        if (c->remove_failed_green) {
          auto& e = s->engine();
          for (auto& n : {s->web_container(c->green), s->db_container(c->green)}) e.remove_container(n, true);
          e.remove_network(s->set_network(c->green));
        }
      });
  add("green-maintenance-off", Phase::window, "remove the maintenance file from green (not public yet)", "",
      [s, c] { s->maintenance_file(c->green, false); return json::object(); });
  add("upgrade", Phase::window, "admin/cli/upgrade.php --non-interactive --lang=en on green", "",
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
        std::string log = save_log(*s, c->green + "-upgrade.log", result.output);
        if (!result.ok) {
          std::string why = result.summary.environment_failed ? "environment check failed: " + result.summary.environment_problems
                                                              : result.summary.error;
          throw Error(fmt::format("upgrade.php failed in {} ({}); log: {}", result.summary.last_component.empty() ? "core" : result.summary.last_component, why, log),
                      "green is kept as it stopped: inspect it, fix the cause, and run cutover again");
        }
        return json{{"upgrade_s", std::chrono::duration<double>(result.duration).count()}, {"log", log}, {"to", result.summary.to_release}};
      });
  add("purge-caches", Phase::window, "admin/cli/purge_caches.php on green", "",
      [s, c] { s->cli(c->green).purge_caches(); return json::object(); });
  if (!cfg.after_upgrade_settings.empty())
    add("settings", Phase::window, "the site's settings for the new release (cfg.php)", "",
        [s, c, &cfg] {
          auto cli = s->cli(c->green);
          for (const auto& [name, value] : cfg.after_upgrade_settings) cli.cfg_set(name, value);
          return json::object();
        });
  add("checks", Phase::window, "checks.php --filter=upgradecheck and check_database_schema.php on green", "",
      [s, c] {
        auto cli = s->cli(c->green);
        auto chk = cli.checks("upgradecheck");
        if (chk.level == moodle::CheckLevel::critical || chk.level == moodle::CheckLevel::unknown)
          throw Error("green fails Moodle's upgrade check: " + chk.output.substr(0, chk.output.find('\n')));
        if (auto diff = cli.schema_differences()) throw Error("green's DB schema differs from its code: " + diff->substr(0, 200));
        return json::object();
      });
  add("health-check", Phase::window, "GET /login/index.php straight at green with the public Host", "",
      [s, c] { s->health_check(c->green); return json::object(); });
  Step* sw = add("switch-proxy", Phase::window, "proxy sends new requests to green; confirmed through the public URL", "switch back to blue",
      [s, c] {
        c->watermark = s->watermark(c->green);  // green's marks before any user reaches it
        auto report = s->proxy()->switch_to(s->backend(c->green));
        return json{{"watermark", c->watermark}, {"switch_ms", std::chrono::duration<double, std::milli>(report.switched).count()},
                    {"confirm_ms", std::chrono::duration<double, std::milli>(report.confirmed).count()}};
      },
      // Unconditional: after a crash the proxy's runtime state may differ from what it persisted.
      [s, c] { s->proxy()->switch_to(s->backend(c->blue)); });
  sw->point_of_no_return = true;
  add("cron-on", Phase::after, "cron.php --enable on green", "",
      [s, c] { s->cli(c->green).cron_enable(); return json::object(); });
  add("record", Phase::after, "site.json: green live, blue the rollback target (idle, in maintenance)", "",
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
  return steps;
}

}  // namespace mupgrade::ops
