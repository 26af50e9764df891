#pragma once
// Refusals shared by the operations that start a new set (cutover, rehearse).

#include "mupgrade/ops/site.hpp"

#include <string>

namespace mupgrade::ops {

/// The recorded site state; throws when no live set is registered yet.
core::SiteState require_live_set(Site& site);
/// The target code dir (--target, else target.code); UsageError when missing or not a directory.
std::string resolve_target(const core::SiteConfig& cfg, const std::string& override_dir);
/// Throws when the last cutover/rollback journal is unfinished; `fix` says how to finish it.
void refuse_if_interrupted(Site& site, const std::string& fix);

}  // namespace mupgrade::ops
