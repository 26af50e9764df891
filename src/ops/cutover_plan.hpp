#pragma once
// The cutover's steps, built from a context that the journal records, so that `resume` can
// rebuild the very same steps after a crash.

#include "mupgrade/core/executor.hpp"
#include "mupgrade/db/freezer.hpp"
#include "mupgrade/ops/site.hpp"

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

  nlohmann::json to_json() const;
  static CutoverContext from_json(const nlohmann::json& j);
};

std::vector<core::Step> cutover_steps(Site& site, CutoverContext& ctx);

}  // namespace mupgrade::ops
