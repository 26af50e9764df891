#include "mupgrade/core/check.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace mupgrade::core {

namespace {
std::string_view label(CheckStatus s) {
  switch (s) {
    case CheckStatus::ok: return "ok";
    case CheckStatus::warn: return "warn";
    case CheckStatus::fail: return "FAIL";
  }
  return "?";
}
}  // namespace

std::string render_checks(const std::vector<CheckResult>& checks) {
  size_t width = 0;
  for (const auto& c : checks) width = std::max(width, c.name.size());
  std::string out;
  for (const auto& c : checks) {
    out += fmt::format("{:<5} {:<{}}  {}\n", label(c.status), c.name, width, c.detail);
    if (c.status != CheckStatus::ok && !c.fix.empty()) out += fmt::format("      {:<{}}  fix: {}\n", "", width, c.fix);
  }
  return out;
}

nlohmann::json checks_to_json(const std::vector<CheckResult>& checks) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& c : checks) {
    arr.push_back({{"name", c.name}, {"status", label(c.status) == "FAIL" ? "fail" : std::string(label(c.status))},
                   {"detail", c.detail}, {"fix", c.fix}});
  }
  return arr;
}

bool all_passed(const std::vector<CheckResult>& checks) {
  return std::none_of(checks.begin(), checks.end(), [](const auto& c) { return c.status == CheckStatus::fail; });
}

}  // namespace mupgrade::core
