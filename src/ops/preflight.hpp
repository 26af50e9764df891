#pragma once
// Refusals shared by the operations that start a new set (cutover, rehearse).

#include "mupgrade/ops/site.hpp"

#include <string>

namespace mupgrade::ops {

/// The recorded site state; throws when no live set is registered yet.
core::SiteState require_live_set(Site& site);
/// Throws when the last cutover/rollback journal is unfinished; `fix` says how to finish it.
void refuse_if_interrupted(Site& site, const std::string& fix);

}  // namespace mupgrade::ops
