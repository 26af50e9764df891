#include "mupgrade/core/playbook.hpp"

#include "mupgrade/core/error.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>

namespace mupgrade::core {

namespace {

std::string known_list(const StepRules& rules) {
  std::string out;
  for (const auto& [name, rule] : rules) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

std::vector<PlannedStep> compose_plan(const Playbook& pb, const StepRules& rules, const std::vector<SiteStep>& site_steps) {
  const std::string fix = "fix the playbook (the built-in ones are in playbooks/)";
  std::map<std::string, size_t> position;
  for (size_t i = 0; i < pb.steps.size(); ++i) {
    const auto& name = pb.steps[i];
    if (!rules.count(name))
      throw UsageError(fmt::format("{}: unknown step '{}' for {} (known: {})", pb.source, name, pb.operation, known_list(rules)), fix);
    if (!position.emplace(name, i).second) throw UsageError(fmt::format("{}: step '{}' appears twice", pb.source, name), fix);
  }
  for (const auto& [name, rule] : rules) {
    auto at = position.find(name);
    if (at == position.end()) {
      if (rule.required) throw UsageError(fmt::format("{}: the {} playbook must keep step '{}'", pb.source, pb.operation, name), fix);
      continue;
    }
    for (const auto& before : rule.after) {
      auto b = position.find(before);
      if (b != position.end() && b->second > at->second)
        throw UsageError(fmt::format("{}: step '{}' must come after '{}'", pb.source, name, before), fix);
    }
  }

  std::vector<PlannedStep> plan;
  std::set<std::string> names(pb.steps.begin(), pb.steps.end());
  auto applies = [&](const SiteStep& s) {
    return std::find(s.operations.begin(), s.operations.end(), pb.operation) != s.operations.end();
  };
  for (size_t i = 0; i < site_steps.size(); ++i) {
    const auto& s = site_steps[i];
    if (!applies(s)) continue;
    if (!names.insert(s.name).second)
      throw UsageError(fmt::format("{}: site step '{}' has the name of another step", s.where, s.name), "give it a name of its own");
    if (!position.count(s.anchor))
      throw UsageError(fmt::format("{}: site step '{}' is anchored at '{}', which the {} playbook ({}) does not have", s.where, s.name,
                                   s.anchor, pb.operation, pb.source),
                       fmt::format("anchor it at one of: {}", fmt::join(pb.steps, ", ")));
  }
  for (const auto& step : pb.steps) {
    for (size_t i = 0; i < site_steps.size(); ++i)
      if (applies(site_steps[i]) && site_steps[i].before && site_steps[i].anchor == step) plan.push_back({site_steps[i].name, int(i)});
    plan.push_back({step, -1});
    for (size_t i = 0; i < site_steps.size(); ++i)
      if (applies(site_steps[i]) && !site_steps[i].before && site_steps[i].anchor == step) plan.push_back({site_steps[i].name, int(i)});
  }
  return plan;
}

}  // namespace mupgrade::core
