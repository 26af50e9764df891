#pragma once
// The step plans of cutover and rollback, built from what the journal records (the
// operation's args), so that `resume` can rebuild the very same steps after a crash.

#include "mupgrade/core/executor.hpp"
#include "mupgrade/db/freezer.hpp"
#include "mupgrade/ops/site.hpp"

#include <iostream>
#include <memory>
#include <string>

namespace mupgrade::ops {

/// What the steps of a cutover or a rehearsal share. In a rehearsal, `green` is the clone.
struct CutoverContext {
  std::string operation = "cutover";  // cutover | rehearse
  std::string blue;
  std::string green;
  std::string target_code;
  bool remove_failed_green = false;  // rehearse: true unless --keep
  // Filled while running.
  std::shared_ptr<db::Freezer> freezer;
  nlohmann::json watermark = nlohmann::json::object();
  std::string blue_release;
  nlohmann::json facts = nlohmann::json::object();  // for the rehearsal report: freeze, upgrade, smoke...
  std::ostream* out = &std::cout;  // where live progress (upgrade.php components) goes

  bool rehearsal() const { return operation == "rehearse"; }
  nlohmann::json to_json() const;
  static CutoverContext from_json(const nlohmann::json& j);
};

/// The steps of a cutover, as its playbook orders them, with the site's own steps.
std::vector<core::Step> cutover_steps(Site& site, CutoverContext& ctx);
/// The steps of a rehearsal on clone ctx.green.
std::vector<core::Step> rehearse_steps(Site& site, CutoverContext& ctx);
/// Stops and removes a clone: containers, network, subvolumes.
void remove_clone(Site& site, const std::string& clone);
/// Traffic from set `from` back to set `to`.
std::vector<core::Step> rollback_steps(Site& site, const std::string& from, const std::string& to);

}  // namespace mupgrade::ops
