#pragma once
// Text and JSON renderings of the operations' typed reports.

#include "mupgrade/ops/operations.hpp"

#include <ostream>

namespace mupgrade::cli {

/// Every `--json` result starts with these: `version` (of the JSON format,
/// core::kJsonResultVersion), `mupgrade` (version and build) and `command`.
nlohmann::json json_result(const std::string& command, const nlohmann::json& body);

/// Returns the exit code: 0 when ready, 1 when a check failed.
int render_plan(const ops::PlanReport& r, bool json, std::ostream& out);
int render_status(const ops::StatusReport& r, bool json, std::ostream& out);

}  // namespace mupgrade::cli
