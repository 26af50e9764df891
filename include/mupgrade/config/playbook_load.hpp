#pragma once
// Reads playbooks/<operation>.yml: the site's copy when its config names a playbooks_dir,
// else the built-in one compiled into the binary.

#include "mupgrade/core/playbook.hpp"

#include <string>

namespace mupgrade::config {

core::Playbook load_playbook(const std::string& operation, const std::string& playbooks_dir);
/// Loads cutover, rehearse and rollback into cfg.playbooks.
void load_playbooks(core::SiteConfig& cfg);
core::Playbook parse_playbook(const std::string& yaml_text, const std::string& operation, const std::string& source);

}  // namespace mupgrade::config
