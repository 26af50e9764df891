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

struct CutoverContext {
  std::string blue;
  std::string green;
  std::string target_code;
  bool remove_failed_green = false;
  // Filled while running.
  std::shared_ptr<db::Freezer> freezer;
  nlohmann::json watermark = nlohmann::json::object();
  std::string blue_release;
  std::ostream* out = &std::cout;  // where live progress (upgrade.php components) goes

  nlohmann::json to_json() const;
  static CutoverContext from_json(const nlohmann::json& j);
};

std::vector<core::Step> cutover_steps(Site& site, CutoverContext& ctx);
/// Traffic from set `from` back to set `to`.
std::vector<core::Step> rollback_steps(Site& site, const std::string& from, const std::string& to);

}  // namespace mupgrade::ops
