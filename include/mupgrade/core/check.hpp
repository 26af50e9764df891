#pragma once
// Results of host and site checks, as `doctor` and `plan` print them.

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace mupgrade::core {

enum class CheckStatus { ok, warn, fail };

/// One line of a check report: what was checked, what was seen, and the fix when it failed.
struct CheckResult {
  std::string name;
  CheckStatus status = CheckStatus::ok;
  std::string detail;
  std::string fix;
};

/// Renders one aligned line per check: `ok    docker daemon   20.10.24, API 1.41`.
std::string render_checks(const std::vector<CheckResult>& checks);
nlohmann::json checks_to_json(const std::vector<CheckResult>& checks);
bool all_passed(const std::vector<CheckResult>& checks);  // no `fail` (warnings pass)

}  // namespace mupgrade::core
