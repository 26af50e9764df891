#pragma once
// Playbooks: the ordered step names of an operation (playbooks/<operation>.yml), checked
// against the steps the tool knows and their ordering rules, with the site's own steps
// inserted at named points. Pure: reading the YAML is src/config/'s job.

#include "mupgrade/core/site_config.hpp"

#include <map>
#include <string>
#include <vector>

namespace mupgrade::core {

/// What the tool knows about one built-in step of an operation.
struct StepRule {
  bool required = false;              // a playbook may not leave it out
  std::vector<std::string> after;     // steps that, when present, must come before it
};
using StepRules = std::map<std::string, StepRule>;

/// One entry of a composed plan: a built-in step, or the index of a site step.
struct PlannedStep {
  std::string name;           // built-in name, or the site step's name
  int site_step = -1;         // index into SiteConfig::steps, -1 for built-in steps
};

/// Checks the playbook against the rules (unknown, duplicate, missing required, out of
/// order: each a UsageError naming the playbook file) and inserts the site steps that apply
/// to the playbook's operation at their anchors (an anchor missing from the playbook is a
/// UsageError naming the site config).
std::vector<PlannedStep> compose_plan(const Playbook& playbook, const StepRules& rules, const std::vector<SiteStep>& site_steps);

}  // namespace mupgrade::core
