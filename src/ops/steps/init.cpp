// Steps of `mupgrade init`: a new site's first set, its Moodle installed, the proxy in front,
// the site's config and state. Each step journals what its undo needs before it changes
// anything, so a failure (or a crash, undone by the next `init`) leaves nothing behind.

#include "mupgrade/ops/plans.hpp"

#include "mupgrade/core/atomic_file.hpp"
#include "mupgrade/core/poll.hpp"
#include "mupgrade/core/site_files.hpp"
#include "mupgrade/ops/target.hpp"

#include <fmt/format.h>

namespace mupgrade::ops {

using core::Phase;
using nlohmann::json;

namespace {

const std::chrono::seconds kCopyTimeout{1800};
const std::chrono::seconds kInstallTimeout{1800};  // real install_database.php: 1.5-5 minutes
constexpr unsigned kWebUid = 33;  // www-data, as in Site (README: what a web image must offer)
constexpr const char* kAdminPasswordFile = ".mupgrade-adminpass";

const InitInputs& inputs(const StepContext& c) {
  if (!c.init) throw Error("init: the step ran without its inputs");
  return *c.init;
}

// --git or --image: the code extracted into <pool>/targets/<key> (where cutover keeps its
// releases), which create-set then snapshots. The undo removes it and the dirs made for it.
json extract_code(Site& s, StepContext& c, core::StepRun& r) {
  const auto* t = inputs(c).release;
  if (!t || t->source == TargetRelease::Source::code) return json::object();
  auto& storage = s.ports().storage;
  const auto& cfg = s.config();
  r.remember({{"code_dir", t->code_dir}, {"existed", storage.exists(t->code_dir)}, {"pool_created", !storage.exists(cfg.pool)},
              {"targets_created", !storage.exists(cfg.pool + "/targets")}});
  if (!c.progress) throw Error("init: extract-code ran without its progress");
  extract_target(s, *t, *c.progress);
  return {{"code", t->code_dir}};
}

void undo_extract_code(Site& s, StepContext&, const json& data) {
  auto& storage = s.ports().storage;
  const auto& cfg = s.config();
  auto dir = data.value("code_dir", "");
  if (dir.empty()) return;
  // A crash mid-extraction leaves the .partial beside it.
  for (const auto& d : {dir + ".partial", data.value("existed", false) ? std::string() : dir})
    if (!d.empty() && storage.exists(d)) {
      s.delete_if_subvolume(d);
      storage.remove_tree(d);
    }
  storage.remove(dir + ".tar");
  if (data.value("targets_created", false)) storage.remove(cfg.pool + "/targets");
  if (data.value("pool_created", false)) storage.remove(cfg.pool);
}

// The set's subvolumes: code as a snapshot of a subvolume tree (constant time) or a reflink
// copy, then moodledata for the web user and an empty db for the DB image to initialise.
json create_set(Site& s, StepContext& c, core::StepRun& r) {
  auto& storage = s.ports().storage;
  const auto& cfg = s.config();
  auto p = s.paths(c.green);
  r.remember({{"set", c.green}, {"pool_created", !storage.exists(cfg.pool)}, {"sets_created", !storage.exists(cfg.sets_dir())}});
  storage.make_dirs(p.dir);
  if (storage.is_subvolume(c.target_code)) {
    storage.snapshot(c.target_code, p.code);
  } else {
    storage.create_subvolume(p.code);
    auto out = s.ports().commands.run({"/bin/cp", "-a", "--reflink=auto", c.target_code + "/.", p.code + "/"}, {}, kCopyTimeout);
    if (out.exit_code != 0)
      throw Error(fmt::format("copying {} into {} failed: {}", c.target_code, p.code, out.output.substr(0, out.output.find('\n'))),
                  "check the code tree and the free space in the pool");
  }
  storage.create_subvolume(p.moodledata);
  storage.set_mode(p.moodledata, {kWebUid, kWebUid, 0750});
  storage.create_subvolume(p.db);
  if (cfg.cache.enabled()) storage.create_subvolume(p.cache);
  return {{"code", p.code}};
}

void undo_create_set(Site& s, StepContext&, const json& data) {
  auto& storage = s.ports().storage;
  const auto& cfg = s.config();
  if (auto set = data.value("set", ""); !set.empty() && storage.exists(s.paths(set).dir)) s.remove_set(set);
  if (data.value("sets_created", false)) storage.remove(cfg.sets_dir());
  if (data.value("pool_created", false)) storage.remove(cfg.pool);
}

// Installs Moodle with its own script; the admin password passes through a 0600 file in
// moodledata that only the web user reads, and that the script's prelude deletes.
json install_moodle(Site& s, StepContext& c, core::StepRun&) {
  const auto& in = inputs(c);
  auto& storage = s.ports().storage;
  std::string host_file = s.paths(c.green).moodledata + "/" + kAdminPasswordFile;
  storage.write_file(host_file, in.admin_password.reveal() + "\n", {kWebUid, kWebUid, 0600});
  try {
    s.cli(c.green).install_database(std::string(core::kContainerMoodledata) + "/" + kAdminPasswordFile, in.fullname, in.shortname,
                                    kInstallTimeout);
  } catch (...) {
    storage.remove(host_file);
    throw;
  }
  storage.remove(host_file);  // the prelude deleted it; a script that did not read it leaves it
  return {{"release", s.db_config_value(c.green, "release")}};
}

// The proxy's first config (traffic to the new set), its container published on the public
// port on 127.0.0.1, and the set seen answering through it.
json start_proxy(Site& s, StepContext& c, core::StepRun& r) {
  const auto& cfg = s.config();
  r.remember({{"container", cfg.proxy.container}, {"config_dir", cfg.proxy.config_dir}});
  s.ports().storage.make_dirs(cfg.proxy.config_dir);
  s.proxy()->install(s.backend(c.green));
  s.create_proxy_container();
  s.ports().containers.start_container(cfg.proxy.container);
  s.wait_serving(c.green);
  return json::object();
}

void undo_start_proxy(Site& s, StepContext&, const json& data) {
  auto& containers = s.ports().containers;
  if (auto name = data.value("container", ""); !name.empty() && containers.inspect_container(name)) containers.remove_container(name, true);
  if (auto dir = data.value("config_dir", ""); !dir.empty()) s.ports().storage.remove_tree(dir);
}

}  // namespace

void add_init_steps(std::vector<StepDef>& t) {
  StepDef d;
  d.name = "write-db-password";
  d.operations = {"init"};
  d.what = "a random DB password in <state_dir>/db_password (0600), read by the DB container";
  d.undo_what = "remove it";
  d.run = [](Site& s, StepContext& c, core::StepRun& r) {
    r.remember({{"file", s.config().db.password_file}});
    core::write_file_atomically(s.config().db.password_file, inputs(c).db_password.reveal(), 0600);
    return json::object();
  };
  d.undo = [](Site&, StepContext&, const json& data) {
    if (auto f = data.value("file", ""); !f.empty()) core::remove_state_file(f);
  };
  t.push_back(d);

  d = {};
  d.name = "extract-code";
  d.operations = {"init"};
  d.what = "--git or --image only: the code extracted into <pool>/targets/<commit or image id> (git archive, or a throwaway container)";
  d.undo_what = "remove the extracted tree and the dirs it made";
  d.run = extract_code;
  d.undo = undo_extract_code;
  t.push_back(d);

  d = {};
  d.name = "create-set";
  d.operations = {"init"};
  d.what = "the first set's subvolumes: code from the given tree (snapshot or reflink copy), moodledata, db";
  d.undo_what = "remove the set (containers, network, subvolumes) and the dirs it made";
  d.run = create_set;
  d.undo = undo_create_set;
  t.push_back(d);

  d = {};
  d.name = "write-config-php";
  d.operations = {"init"};
  d.after = {"create-set"};
  d.what = "config.php: dbhost 'db', prefix, wwwroot = the public URL, dataroot (mode 0640, group www-data)";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    s.ports().storage.write_file(s.paths(c.green).code + "/config.php", core::render_config_php(s.config(), inputs(c).db_password.reveal()),
                                 {0, kWebUid, 0640});
    return json::object();
  };
  t.push_back(d);

  d = {};
  d.name = "start-set";
  d.operations = {"init"};
  d.what = "the site's network, the set's network and its DB and web containers, started and answering";
  d.undo_what = "remove the set's containers and network, and the site's network if init made it";
  d.run = [](Site& s, StepContext& c, core::StepRun& r) {
    const auto& cfg = s.config();
    bool make_network = !s.ports().containers.network(cfg.network);
    r.remember({{"network", make_network ? cfg.network : ""}});
    s.ensure_site_network();
    auto times = s.start_set(c.green, cfg.web_image);
    return json{{"db_ready_s", std::chrono::duration<double>(times.db_ready).count()},
                {"web_ready_s", std::chrono::duration<double>(times.web_ready).count()}};
  };
  d.undo = [](Site& s, StepContext& c, const json& data) {
    s.remove_containers(c.green);
    if (auto net = data.value("network", ""); !net.empty() && s.ports().containers.network(net)) s.ports().containers.remove_network(net);
  };
  t.push_back(d);

  d = {};
  d.name = "install-moodle";
  d.operations = {"init"};
  d.after = {"write-config-php", "start-set"};
  d.what = "admin/cli/install_database.php --agree-license (the admin password never in an argv)";
  d.undo_what = "nothing of its own: the set's removal takes the DB with it";
  d.run = install_moodle;
  t.push_back(d);

  d = {};
  d.name = "start-proxy";
  d.operations = {"init"};
  d.after = {"install-moodle"};
  d.what = "the proxy's config (traffic to the set), its container on 127.0.0.1:<public port>; the set seen through it";
  d.undo_what = "remove the proxy container and its config dir";
  d.run = start_proxy;
  d.undo = undo_start_proxy;
  t.push_back(d);

  d = {};
  d.name = "write-site-config";
  d.operations = {"init"};
  d.what = "the site's config /etc/mupgrade/<site>.yml (no secret in it: the DB password is a file)";
  d.undo_what = "remove it";
  d.run = [](Site& s, StepContext& c, core::StepRun& r) {
    const auto& in = inputs(c);
    r.remember({{"file", in.config_file}});
    auto& storage = s.ports().storage;
    auto slash = in.config_file.rfind('/');
    if (slash != std::string::npos && slash > 0) storage.make_dirs(in.config_file.substr(0, slash));
    storage.write_file(in.config_file, in.config_text, {0, 0, 0644});
    return json{{"file", in.config_file}};
  };
  d.undo = [](Site& s, StepContext&, const json& data) {
    if (auto f = data.value("file", ""); !f.empty()) s.ports().storage.remove(f);
  };
  t.push_back(d);

  d = {};
  d.name = "register-live-set";
  d.operations = {"init"};
  d.after = {"start-proxy"};
  d.what = "record the set as live (<state_dir>/site.json): plan, cutover and rollback start from it";
  d.undo_what = "remove site.json";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    core::SiteState st;
    st.live_set = c.green;
    st.live_release = s.db_config_value(c.green, "release");
    st.cutover_at = core::utc_now_iso();
    s.save_state(st);
    return json{{"live_release", st.live_release}};
  };
  d.undo = [](Site& s, StepContext&, const json&) { core::remove_state_file(s.config().state_dir + "/site.json"); };
  t.push_back(d);
}

}  // namespace mupgrade::ops
