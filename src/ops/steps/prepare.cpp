// Steps before the window: production serves throughout, nothing here is visible to users.

#include "mupgrade/ops/plans.hpp"

#include <fmt/format.h>

namespace mupgrade::ops {

using core::Phase;
using nlohmann::json;

namespace {

const std::chrono::seconds kCopyTimeout{1800};

// Green's code: a snapshot when the release is a subvolume (constant time), else a copy;
// then the site's own config.php from blue, whatever the target tree carries (a tree kept
// in git often has a config.php of its own, for another dataroot and DB).
json prepare_code(Site& site, StepContext& ctx) {
  auto& storage = site.ports().storage;
  auto green = site.paths(ctx.green), blue = site.paths(ctx.blue);
  storage.make_dirs(green.dir);
  if (storage.is_subvolume(ctx.target_code)) {
    storage.snapshot(ctx.target_code, green.code);
  } else {
    // cp shares the extents (reflink) when the tree is on the same btrfs, and keeps owners and modes.
    storage.create_subvolume(green.code);
    auto r = site.ports().commands.run({"/bin/cp", "-a", "--reflink=auto", ctx.target_code + "/.", green.code + "/"}, {}, kCopyTimeout);
    if (r.exit_code != 0)
      throw Error(fmt::format("copying {} into {} failed: {}", ctx.target_code, green.code, r.output.substr(0, r.output.find('\n'))),
                  "check the target tree and the free space in the pool");
  }
  std::string from = blue.code + "/config.php", to = green.code + "/config.php";
  bool target_had_config = storage.exists(to);
  auto text = storage.read_file(from);
  auto mode = storage.file_mode(from);
  if (!text || !mode) throw Error(fmt::format("cannot read the live set's {}", from), "check the live set's code subvolume");
  // It holds the DB password: it keeps the owner, group and mode of blue's.
  storage.write_file(to, *text, *mode);
  return {{"code", green.code}, {"target_config_replaced", target_had_config}};
}

// Runs `upgrade.php --is-pending` with the target code against blue's DB, in a throwaway
// container over a snapshot of blue's moodledata: the contract's own answer, before the window.
json verify_target(Site& site, StepContext& ctx, core::StepRun& run) {
  auto& containers = site.ports().containers;
  const auto& cfg = site.config();
  std::string scratch = site.paths(ctx.green).verify_moodledata();
  std::string name = site.layout().verify_container(ctx.green);
  run.remember({{"container", name}, {"scratch", scratch}});
  site.delete_if_subvolume(scratch);
  site.ports().storage.snapshot(site.paths(ctx.blue).moodledata, scratch);
  if (containers.inspect_container(name)) containers.remove_container(name, true);
  ports::ContainerSpec spec;
  spec.name = name;
  spec.image = cfg.target_image;
  spec.labels = site.layout().labels(ctx.green, "verify");
  spec.network = site.set_network(ctx.blue);
  spec.mounts = {{site.paths(ctx.green).code, core::kContainerCodeRoot, true}, {scratch, core::kContainerMoodledata, false}};
  spec.entrypoint = {"sleep", "600"};
  containers.create_container(spec);
  moodle::PendingState pending;
  try {
    containers.start_container(name);
    moodle::MoodleCli cli(containers, name, moodle::CodeLayout{core::kContainerCodeRoot, site.code_layout(site.paths(ctx.green).code).public_dir});
    pending = cli.upgrade_pending();
  } catch (const std::exception&) {  // a kill leaves them: the undo (from the journal) removes them
    containers.remove_container(name, true);
    site.delete_if_subvolume(scratch);
    throw;
  }
  containers.remove_container(name, true);
  site.delete_if_subvolume(scratch);
  if (pending == moodle::PendingState::downgrade_refused)
    throw Error("the target code is OLDER than the version that made the live DB (Moodle refuses downgrades)", "pick a newer release as the target");
  if (pending == moodle::PendingState::up_to_date)
    throw Error("the target code needs no upgrade of the live DB (same versions)", "pick a newer release as the target");
  return {{"pending", true}};
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
  d.what = "upgrade.php --is-pending with the target code against blue's DB (throwaway container)";
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
  d.name = "create-green";
  d.operations = {"cutover", "rehearse"};
  d.after = {step::prepare_code, step::verify_target, "isolate-clone"};
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
