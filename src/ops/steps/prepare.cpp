// Steps before the window: production serves throughout, nothing here is visible to users.

#include "mupgrade/ops/plans.hpp"
#include "../survey.hpp"

#include <fmt/format.h>

namespace mupgrade::ops {

using core::Phase;
using nlohmann::json;

namespace {

// Green's code: a snapshot when the release is a subvolume (constant time), else a copy;
// then the site's own config.php from blue, whatever the target tree carries (a tree kept
// in git often has a config.php of its own, for another dataroot and DB).
json prepare_code(Site& site, StepContext& ctx) {
  auto green = site.paths(ctx.green);
  site.ports().storage.make_dirs(green.dir);
  site.lay_out_code(ctx.target_code, green.code);
  bool target_had_config = site.install_live_config(ctx.blue, green.code);
  return {{"code", green.code}, {"target_config_replaced", target_had_config}};
}

// Asks the target code about blue's DB, in a throwaway container over a snapshot of blue's
// moodledata (src/ops/survey.cpp): pending, maintenance, add-ons missing from the target, plugins
// the release refuses, and blue's own schema drift (the baseline `checks` compares against).
json verify_target(Site& site, StepContext& ctx, core::StepRun& run) {
  SurveyPlace place{site.paths(ctx.green).code, site.paths(ctx.green).verify_moodledata(), site.layout().verify_container(ctx.green),
                    site.layout().labels(ctx.green, "verify")};
  run.remember({{"container", place.container}, {"scratch", place.scratch}});
  auto s = survey_target(site, ctx.blue, place);
  if (s.pending == moodle::PendingState::downgrade_refused)
    throw Error("the target code is OLDER than the version that made the live DB (Moodle refuses downgrades)", "pick a newer release as the target");
  if (s.pending == moodle::PendingState::up_to_date)
    throw Error("the target code needs no upgrade of the live DB (same versions)", "pick a newer release as the target");
  if (!s.missing_plugins.empty())
    throw Error(fmt::format("add-on(s) installed on the live site are missing from the target code: {} (green would keep them registered "
                            "with no code: 'Missing from disk')", join_names(s.missing_plugins)),
                kMissingPluginsFix);
  if (!s.refused_plugins.empty())
    throw Error(fmt::format("upgrade.php's plugin check refuses {} (Dependencies check failed)", join_names(s.refused_plugins)), kRefusedPluginsFix);
  json live_schema = json::array();
  for (const auto& d : s.live_schema) live_schema.push_back({{"table", d.table}, {"what", d.what}, {"extra", d.extra}});
  ctx.facts["live_schema"] = live_schema;
  if (!s.live_schema.empty())
    ctx.warn(fmt::format("the live site's schema already differs from its own code ({} item(s), the site's own drift, not the upgrade's): {}",
                                 s.live_schema.size(), describe_differences(s.live_schema)));
  if (!s.live_schema_error.empty()) {
    ctx.facts["live_schema_error"] = s.live_schema_error;
    ctx.warn("the live site's schema could not be checked (" + s.live_schema_error + "): every difference after the upgrade counts as the upgrade's");
  }
  json maintenance = s.maintenance_required ? json(*s.maintenance_required) : json(nullptr);
  ctx.facts["maintenance_required"] = maintenance;
  return {{"pending", true}, {"maintenance_required", maintenance}, {"live_schema", live_schema}};
}

// The clone's config.php: production's, with a block before the bootstrap line that makes it
// a clone: its own wwwroot, no email ever, cron off. Settings in config.php override the DB.
json isolate_clone(Site& site, StepContext& ctx) {
  auto& storage = site.ports().storage;
  std::string path = site.paths(ctx.green).code + "/config.php";
  std::string text = storage.read_file(path).value_or("");
  auto at = text.find("/lib/setup.php");
  if (at == std::string::npos || (at = text.rfind("require", at)) == std::string::npos)
    throw Error(fmt::format("{} has no require_once of lib/setup.php (Moodle's config.php ends with it)", path), "check the live set's config.php");
  at = text.rfind('\n', at) == std::string::npos ? 0 : text.rfind('\n', at) + 1;
  text.insert(at, fmt::format("// mupgrade rehearsal clone {} of site {}: NOT production. Added by 'mupgrade rehearse'.\n"
                              "$CFG->wwwroot = '{}';\n$CFG->noemailever = true;\n$CFG->cron_enabled = 0;\n",
                              ctx.green, site.config().site, site.clone_url()));
  auto mode = storage.file_mode(path);
  if (!mode) throw Error(fmt::format("cannot read the owner and mode of {}", path));
  storage.write_file(path, text, *mode);
  return {{"wwwroot", site.clone_url()}};
}

}  // namespace

void add_prepare_steps(std::vector<StepDef>& t) {
  StepDef d;
  d = {};
  d.name = step::prepare_code;
  d.operations = {"cutover", "rehearse"};
  d.required = true;
  d.what = "lay out the target code as green's code subvolume, with the site's config.php (any config.php in the target is replaced)";
  d.undo_what = "delete it unless green is kept for diagnosis";
  d.run = [](Site& s, StepContext& c, core::StepRun& r) {
    r.remember({{"code", s.paths(c.green).code}});
    return prepare_code(s, c);
  };
  d.undo = [](Site& s, StepContext& c, const json&) {
    if (!c.remove_failed_green) return;
    s.delete_if_subvolume(s.paths(c.green).code);
    s.ports().storage.remove(s.paths(c.green).dir);  // only when empty
  };
  t.push_back(d);

  d = {};
  d.name = "isolate-clone";
  d.operations = {"rehearse"};
  d.required = true;
  d.after = {step::prepare_code};
  d.what = "clone's config.php: its own wwwroot, noemailever, cron off";
  d.run = [](Site& s, StepContext& c, core::StepRun&) { return isolate_clone(s, c); };
  t.push_back(d);

  d = {};
  d.name = step::verify_target;
  d.operations = {"cutover", "rehearse"};
  d.after = {step::prepare_code};
  d.what = "the target code against blue's DB (throwaway container): upgrade.php --is-pending, --is-maintenance-required and its plugin check, "
           "uninstall_plugins.php --show-missing (add-ons the target lacks); blue's own check_database_schema.php, the baseline of checks";
  d.undo_what = "remove the throwaway container and its moodledata snapshot";
  d.run = [](Site& s, StepContext& c, core::StepRun& r) { return verify_target(s, c, r); };
  d.undo = [](Site& s, StepContext&, const json& data) {
    auto& containers = s.ports().containers;
    if (auto name = data.value("container", ""); !name.empty() && containers.inspect_container(name)) containers.remove_container(name, true);
    if (auto scratch = data.value("scratch", ""); !scratch.empty()) s.delete_if_subvolume(scratch);
  };
  t.push_back(d);

  d = {};
  d.name = step::db_prepare;
  d.operations = {"cutover", "rehearse"};
  d.what = "have blue's DB write out dirty pages (short freeze, short crash recovery)";
  d.undo_what = "restore the settings it changed (journaled before the change)";
  d.run = [](Site& s, StepContext& c, core::StepRun& r) {
    auto& db = s.ports().db;
    auto ep = s.db_endpoint(c.blue);
    auto freezer = db.freezer(ep);
    c.facts["db_settings"] = freezer->settings();
    r.remember({{"db_settings", c.facts["db_settings"]}});
    freezer->prepare();
    return json{{"blue_release", s.db_config_value(c.blue, "release")}};
  };
  d.undo = [](Site& s, StepContext& c, const json& data) {
    if (data.contains("db_settings")) s.ports().db.freezer(s.db_endpoint(c.blue))->restore(data["db_settings"]);
  };
  t.push_back(d);

  d = {};
  d.name = "sync";
  d.operations = {"cutover", "rehearse"};
  d.what = "flush the pool's dirty data so the snapshots take milliseconds";
  d.run = [](Site& s, StepContext&, core::StepRun&) {
    s.ports().storage.sync(s.config().pool);
    return json::object();
  };
  t.push_back(d);

  d = {};
  d.name = "drain-cron";
  d.operations = {"cutover"};
  d.restores_service = true;
  d.what = "cron.php --disable-wait on blue: running tasks finish, no new ones";
  d.undo_what = "cron.php --enable on blue";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    int wait = s.config().cron_drain_timeout_s;
    if (!s.cli(c.blue).cron_disable_wait(std::chrono::seconds(wait)))
      throw Error(fmt::format("cron tasks on blue did not stop within {} s", wait), "retry later, or raise upgrade.cron_drain_timeout_s");
    return json::object();
  };
  d.undo = [](Site& s, StepContext& c, const json&) { s.cli(c.blue).cron_enable(); };
  t.push_back(d);

  d = {};
  d.name = "seed-opcache";
  d.operations = {"cutover", "rehearse"};
  d.after = {step::prepare_code};
  d.what = "green's OPcache file cache: a snapshot of the one the last rehearsal's clone filled on the same code and image, so green's first "
           "page after upgrade.php loads compiled scripts; none when no rehearsal kept one, or the image keeps no file cache";
  d.what_in_rehearsal = "an empty OPcache file cache for the clone, which its Apache fills as it serves (kept for the cutover by keep-opcache)";
  d.undo_what = "delete it unless green is kept for diagnosis";
  d.run = [](Site& s, StepContext& c, core::StepRun& r) {
    const std::string& image = s.config().target_image;
    r.remember({{"dir", s.paths(c.green).opcache()}});
    if (!s.opcache_file_cache_of(image))
      return json{{"skipped", fmt::format("{} keeps no OPcache file cache (no {} label)", image, core::kOpcacheFileCacheLabel)}};
    std::string from = s.seed_opcache(c.green, image);
    if (from.empty()) return json{{"skipped", "no rehearsal kept an OPcache file cache for this code and image"}};
    return json{{"dir", s.paths(c.green).opcache()}, {"from", from}};
  };
  d.undo = [](Site& s, StepContext& c, const json& data) {
    if (auto dir = data.value("dir", ""); !dir.empty() && c.remove_failed_green) s.delete_if_subvolume(dir);
  };
  t.push_back(d);

  d = {};
  d.name = "create-green";
  d.operations = {"cutover", "rehearse"};
  d.after = {step::prepare_code, step::verify_target, "isolate-clone", "seed-opcache"};
  d.what = "create green's network and its DB and web containers, not started: the window only starts them";
  d.what_in_rehearsal = "create the clone's internal network and its DB and web containers (started in the window)";
  d.undo_what = "remove them unless green holds data to diagnose";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    s.create_containers(c.green, s.config().target_image);
    return json::object();
  };
  d.undo = [](Site& s, StepContext& c, const json&) {
    // Before the snapshot green has nothing to diagnose; its containers only point at paths
    // that do not exist, so they go.
    if (c.remove_failed_green || !s.ports().storage.exists(s.paths(c.green).db)) s.remove_containers(c.green);
  };
  t.push_back(d);
}

}  // namespace mupgrade::ops
