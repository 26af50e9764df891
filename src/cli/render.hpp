#pragma once
// Text and JSON renderings of the operations' typed reports.

#include "mupgrade/ops/operations.hpp"

#include <ostream>

namespace mupgrade::cli {

/// Returns the exit code: 0 when ready, 1 when a check failed.
int render_plan(const ops::PlanReport& r, bool json, std::ostream& out);
int render_status(const ops::StatusReport& r, bool json, std::ostream& out);

}  // namespace mupgrade::cli
