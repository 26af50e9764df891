// Steps of `mupgrade up`: each looks at what runs now and only makes or starts what is missing
// or stopped (so a rerun after a crash goes on where it stopped), with the code paths cutover
// and init use. Each journals what it is about to make before making it; undone before the
// proxy is pointed, they leave the site as `up` found it.

#include "mupgrade/ops/plans.hpp"

#include <fmt/format.h>

namespace mupgrade::ops {

using core::Phase;
using nlohmann::json;

namespace {

bool set_runs(Site& s, const std::string& set) {
  auto& containers = s.ports().containers;
  for (const auto& c : s.containers_of(set))  // the cache service too, when the site has one
    if (auto info = containers.inspect_container(c); !info || !info->running) return false;
  return containers.network(s.set_network(set)).has_value();
}

// Missing containers made as cutover makes them (Site::start_set), stopped ones started.
json start_set(Site& s, const std::string& set, core::StepRun& r) {
  if (set_runs(s, set)) return {{"changed", false}};
  json created = json::array();
  for (const auto& c : s.containers_of(set))
    if (!s.ports().containers.inspect_container(c)) created.push_back(c);
  std::string image = s.web_image_of(set);
  r.remember({{"set", set}, {"created", created}});
  auto times = s.start_set(set, image);
  return {{"changed", true}, {"created", created}, {"web_image", image},
          {"db_ready_s", std::chrono::duration<double>(times.db_ready).count()},
          {"web_ready_s", std::chrono::duration<double>(times.web_ready).count()}};
}

// Back to how `up` found the set: the containers it made removed, the others stopped.
void undo_start_set(Site& s, const json& data) {
  auto set = data.value("set", "");
  if (set.empty()) return;
  auto& containers = s.ports().containers;
  for (const auto& c : data.value("created", json::array()))
    if (containers.inspect_container(c.get<std::string>())) containers.remove_container(c.get<std::string>(), true);
  s.stop_set(set);
}

json ensure_proxy(Site& s, StepContext& c, core::StepRun& r) {
  const auto& cfg = s.config();
  auto& containers = s.ports().containers;
  bool install = !s.proxy()->current();
  auto info = containers.inspect_container(cfg.proxy.container);
  if (!install && info && info->running) return {{"changed", false}};
  bool dir_made = install && !s.ports().storage.exists(cfg.proxy.config_dir);
  r.remember({{"container", info ? "" : cfg.proxy.container}, {"stop", info && !info->running},
              {"config_dir", dir_made ? cfg.proxy.config_dir : ""}, {"installed", install}});
  if (install) {
    // Its config (state file and rendered config) was lost: traffic to the live set, as init writes it.
    s.ports().storage.make_dirs(cfg.proxy.config_dir);
    s.proxy()->install(s.backend(c.green));
  }
  if (!info) s.create_proxy_container();
  s.ensure_proxy_running();
  return {{"changed", true}, {"installed", install}, {"created", !info}};
}

void undo_ensure_proxy(Site& s, const json& data) {
  auto& containers = s.ports().containers;
  const auto& cfg = s.config();
  if (auto name = data.value("container", ""); !name.empty() && containers.inspect_container(name)) containers.remove_container(name, true);
  if (data.value("stop", false))
    if (auto info = containers.inspect_container(cfg.proxy.container); info && info->running)
      containers.stop_container(cfg.proxy.container, std::chrono::seconds(10));
  if (auto dir = data.value("config_dir", ""); !dir.empty()) s.ports().storage.remove_tree(dir);
}

}  // namespace

void add_up_steps(std::vector<StepDef>& t) {
  StepDef d;
  d.name = "site-network";
  d.operations = {"up"};
  d.what = "the site's network (the proxy's, shared with the sets' web containers), made if missing";
  d.undo_what = "remove it if up made it";
  d.run = [](Site& s, StepContext&, core::StepRun& r) {
    bool missing = !s.ports().containers.network(s.config().network);
    r.remember({{"network", missing ? s.config().network : ""}});
    s.ensure_site_network();
    return json{{"changed", missing}};
  };
  d.undo = [](Site& s, StepContext&, const json& data) {
    if (auto net = data.value("network", ""); !net.empty() && s.ports().containers.network(net)) s.ports().containers.remove_network(net);
  };
  t.push_back(d);

  d = {};
  d.name = "start-live";
  d.operations = {"up"};
  d.after = {"site-network"};
  d.what = "the live set's network, DB and web containers: missing ones made as cutover makes them, stopped ones started; both answering";
  d.undo_what = "remove the containers up made, stop the others";
  d.run = [](Site& s, StepContext& c, core::StepRun& r) { return start_set(s, c.green, r); };
  d.undo = [](Site& s, StepContext&, const json& data) { undo_start_set(s, data); };
  t.push_back(d);

  d = {};
  d.name = "start-rollback-target";
  d.operations = {"up"};
  d.after = {"site-network"};
  d.what = "the rollback target as cutover leaves it: maintenance file on, containers made or started, idle (no traffic)";
  d.undo_what = "remove the containers up made, stop the others, the maintenance file as it was";
  d.run = [](Site& s, StepContext& c, core::StepRun& r) {
    if (c.blue.empty()) return json{{"changed", false}};
    bool maintenance = s.maintenance_file_present(c.blue);
    // Before anything starts: the idle set never answers a request without it.
    r.remember({{"maintenance_added", !maintenance}});
    s.maintenance_file(c.blue, true);
    json facts = start_set(s, c.blue, r);
    facts["maintenance_added"] = !maintenance;
    return facts;
  };
  d.undo = [](Site& s, StepContext& c, const json& data) {
    undo_start_set(s, data);
    if (data.value("maintenance_added", false) && !c.blue.empty()) s.maintenance_file(c.blue, false);
  };
  t.push_back(d);

  d = {};
  d.name = "proxy";
  d.operations = {"up"};
  d.after = {"site-network", "start-live"};
  d.what = "the proxy: its config (traffic to the live set) if lost, its container made as init makes it if missing, started; its API answering";
  d.undo_what = "remove the container and config dir up made, stop it if up started it";
  d.run = ensure_proxy;
  d.undo = [](Site& s, StepContext&, const json& data) { undo_ensure_proxy(s, data); };
  t.push_back(d);

  d = {};
  d.name = step::switch_proxy;
  d.operations = {"up"};
  d.required = true;
  d.point_of_no_return = true;
  d.after = {"start-live", "proxy"};
  d.what = "proxy sends traffic to the live set at its web container's current address; confirmed through the public URL";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    auto r = s.proxy()->switch_to(s.backend(c.green));
    return json{{"switch_ms", std::chrono::duration<double, std::milli>(r.switched).count()}};
  };
  t.push_back(d);

  d = {};
  d.name = "confirm";
  d.operations = {"up"};
  d.required = true;
  d.after = {step::switch_proxy};
  d.what = "the public URL answers 200 from the live set (X-Mupgrade-Set)";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    s.wait_serving(c.green);
    return json::object();
  };
  t.push_back(d);
}

}  // namespace mupgrade::ops
